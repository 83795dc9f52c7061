"""Atomic writes: permissions follow the umask; failures leave the old content."""

import os
import stat

import pytest

from inception_tf import files


@pytest.fixture
def umask():
    """Sets the process umask for one test and restores it afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask, directory_mode, file_mode", [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600),
                                                             (0o027, 0o750, 0o640)])
def test_atomic_directory_gets_the_umask_permissions(tmp_path, umask, mask, directory_mode, file_mode):
    umask(mask)
    target = tmp_path / "1"
    with files.atomic_directory(target) as temporary:
        os.makedirs(os.path.join(temporary, "variables"))
        with open(os.path.join(temporary, "variables", "data"), "w") as handle:
            handle.write("x")
        os.chmod(os.path.join(temporary, "variables", "data"), 0o600)  # as mkstemp-made files are
    # Expected modes: what `mkdir` and `open` give under this umask (0777/0666 & ~umask).
    assert mode(target) == directory_mode
    assert mode(target / "variables") == directory_mode
    assert mode(target / "variables" / "data") == file_mode


def test_current_umask_reads_and_restores(umask):
    umask(0o027)
    assert files.current_umask() == 0o027
    assert os.umask(0o027) == 0o027  # still set


@pytest.mark.parametrize("mask, file_mode", [(0o022, 0o644), (0o077, 0o600)])
def test_atomic_file_gets_the_umask_permissions(tmp_path, umask, mask, file_mode):
    umask(mask)
    target = tmp_path / "a.json"
    files.write_json(target, {"a": 1})
    assert mode(target) == file_mode


def test_atomic_file_failure_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old content\n")
    with pytest.raises(RuntimeError, match="disk full"):
        with files.atomic_file(target) as temporary:
            with open(temporary, "w") as handle:
                handle.write("new, half writ")
            raise RuntimeError("disk full")
    assert target.read_text() == "old content\n"
    assert sorted(os.listdir(tmp_path)) == ["metrics.json"]


def test_atomic_file_does_not_write_in_place(tmp_path):
    target = tmp_path / "model.keras"
    target.write_text("old")
    with files.atomic_file(target) as temporary:
        assert os.path.abspath(temporary) != os.path.abspath(target)
        assert os.path.dirname(os.path.abspath(temporary)) == str(tmp_path)  # same filesystem: atomic rename
        assert os.path.basename(temporary).startswith(".tmp-")
        assert temporary.endswith(".keras")
        with open(temporary, "w") as handle:
            handle.write("new")
        assert target.read_text() == "old"  # untouched until the block exits
    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["model.keras"]


def test_atomic_directory_failure_keeps_the_old_directory(tmp_path):
    target = tmp_path / "1"
    target.mkdir()
    (target / "saved_model.pb").write_text("old")
    with pytest.raises(RuntimeError):
        with files.atomic_directory(target, overwrite=True) as temporary:
            assert os.path.abspath(temporary) != str(target)
            with open(os.path.join(temporary, "saved_model.pb"), "w") as handle:
                handle.write("new")
            raise RuntimeError("interrupted")
    assert (target / "saved_model.pb").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["1"]


def test_atomic_directory_opens_up_private_subdirectories_and_keeps_execute_bits(tmp_path, umask):
    umask(0o022)
    target = tmp_path / "1"
    with files.atomic_directory(target) as temporary:
        private = os.path.join(temporary, "assets")
        os.mkdir(private)
        os.chmod(private, 0o700)  # as tempfile.mkdtemp makes them
        for name, owner_mode in [("run.sh", 0o700), ("odd", 0o601), ("data", 0o600)]:
            with open(os.path.join(private, name), "w") as handle:
                handle.write("x")
            os.chmod(os.path.join(private, name), owner_mode)
    # 0777 & ~022 for directories and owner-executable files, 0666 & ~022 for the rest:
    # an execute bit the owner lacks is not spread to the others.
    assert mode(target / "assets") == 0o755
    assert mode(target / "assets" / "run.sh") == 0o755
    assert mode(target / "assets" / "odd") == 0o644
    assert mode(target / "assets" / "data") == 0o644


def test_write_json_creates_missing_directories_and_writes_sorted_indented_json(tmp_path):
    target = tmp_path / "runs" / "a" / "metrics.json"
    files.write_json(target, {"loss": 0.5, "accuracy": [1, 2]})
    # Written out by hand: two-space indent, keys sorted, a final newline.
    assert target.read_text() == '{\n  "accuracy": [\n    1,\n    2\n  ],\n  "loss": 0.5\n}\n'
    assert sorted(os.listdir(target.parent)) == ["metrics.json"]


def test_atomic_file_leaves_no_file_descriptor_open(tmp_path):
    before = set(os.listdir("/proc/self/fd"))
    for index in range(5):
        with files.atomic_file(tmp_path / f"{index}.txt") as temporary:
            with open(temporary, "w") as handle:
                handle.write("x")
    assert set(os.listdir("/proc/self/fd")) <= before


def test_atomic_directory_refuses_an_existing_path_by_default(tmp_path):
    target = tmp_path / "1"
    target.mkdir()
    (target / "saved_model.pb").write_text("old")
    with pytest.raises(FileExistsError, match="already exists.*overwrite=True"):
        with files.atomic_directory(target):
            pass
    assert (target / "saved_model.pb").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["1"]


def test_atomic_directory_creates_missing_parents_with_a_hidden_temporary(tmp_path):
    target = tmp_path / "exports" / "googlenet" / "1"
    with files.atomic_directory(target) as temporary:
        # A dot name, never an integer: TF Serving's version poller does not load it half written.
        assert os.path.basename(temporary).startswith(".tmp-")
        assert os.path.dirname(temporary) == str(target.parent)
        with open(os.path.join(temporary, "saved_model.pb"), "w") as handle:
            handle.write("new")
    assert (target / "saved_model.pb").read_text() == "new"
    assert sorted(os.listdir(target.parent)) == ["1"]


def test_atomic_directory_overwrite_replaces_the_old_content_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "1"
    target.mkdir()
    (target / "saved_model.pb").write_text("old")
    (target / "stale.txt").write_text("old")
    with files.atomic_directory(target, overwrite=True) as temporary:
        with open(os.path.join(temporary, "saved_model.pb"), "w") as handle:
            handle.write("new")
    assert sorted(os.listdir(target)) == ["saved_model.pb"]
    assert (target / "saved_model.pb").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["1"]


def test_atomic_directory_does_not_replace_a_path_that_appeared_while_writing(tmp_path):
    target = tmp_path / "1"
    with pytest.raises(FileExistsError, match="appeared while it was being written"):
        with files.atomic_directory(target) as temporary:
            target.mkdir()
            (target / "saved_model.pb").write_text("theirs")
            with open(os.path.join(temporary, "saved_model.pb"), "w") as handle:
                handle.write("ours")
    assert (target / "saved_model.pb").read_text() == "theirs"
    assert sorted(os.listdir(tmp_path)) == ["1"]


@pytest.fixture
def unremovable_trees(monkeypatch):
    """Makes every `shutil.rmtree` in `files` fail, as on a filesystem holding the files open:
    with `ignore_errors=True` the failure is swallowed (shutil's contract), otherwise it raises."""
    def rmtree(path, ignore_errors=False, onerror=None, **kwargs):
        if not ignore_errors:
            raise OSError(f"cannot remove {path}")

    monkeypatch.setattr(files.shutil, "rmtree", rmtree)


def test_atomic_directory_overwrite_succeeds_when_the_old_version_cannot_be_removed(tmp_path, unremovable_trees):
    target = tmp_path / "1"
    target.mkdir()
    (target / "saved_model.pb").write_text("old")
    with files.atomic_directory(target, overwrite=True) as temporary:
        with open(os.path.join(temporary, "saved_model.pb"), "w") as handle:
            handle.write("new")
    assert (target / "saved_model.pb").read_text() == "new"
    # What is left over is hidden (a dot name), so a version poller never takes it for a version.
    assert all(name.startswith(".") for name in os.listdir(tmp_path) if name != "1")


def test_atomic_directory_failure_raises_the_writers_error_when_cleanup_fails(tmp_path, unremovable_trees):
    with pytest.raises(RuntimeError, match="interrupted"):
        with files.atomic_directory(tmp_path / "1"):
            raise RuntimeError("interrupted")
    assert not (tmp_path / "1").exists()
