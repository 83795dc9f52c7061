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
