"""The mutation runner on a toy module: which changes it makes, and that it tells killed from surviving mutants."""

import io
import os
import subprocess
import sys
import textwrap

import pytest

from tools import mutate

TOY = textwrap.dedent('''\
    """A toy module."""


    def clamp(x, low=0, high=10):
        """Docstrings are never mutated."""
        if x < low:
            return low
        if x > high and True:
            raise ValueError("never mutated: " + str(x))
        print(f"{x} kept")
        return -x if x == 3 else x  # pragma: no mutate
''')


def test_mutants_change_one_thing_each():
    found = mutate.mutants(TOY)
    changes = [(line, before, after) for line, before, after, _ in found]
    assert (6, "x < low", "x <= low") in changes
    assert (8, "x > high", "x >= high") in changes
    assert (8, "x > high and True", "x > high or True") in changes
    assert (8, "True", "False") in changes
    assert (4, "0", "1") in changes and (4, "10", "11") in changes
    assert (10, "print(f'{x} kept')", "None") in changes
    assert all(line not in (1, 5, 11) for line, _, _ in changes)  # docstrings and the pragma line
    assert not any("XXnever" in after for _, _, after in changes)  # strings of a raise
    assert len({code for *_, code in found}) == len(found) and TOY not in {code for *_, code in found}
    for _, _, _, code in found:
        compile(code, "toy.py", "exec")
    helps = mutate.mutants('flag("--epochs", help="epochs " "to train", default="12")\n'
                           'parser = Parser(description="Trains.", epilog="See the README.")\n')
    assert sorted((before, after) for _, before, after, _ in helps) == [  # the help text is prose: left alone
        ("'--epochs'", "'XX--epochsXX'"), ("'12'", "'XX12XX'"), ("flag('--epochs', help='epochs to train', default='12')", "None")]
    assert not any("XX" in after for line, _, after, _ in helps if line == 2)  # description and epilog too
    strings = mutate.mutants('NAME = "tf"\nx = -y\nz = not y\n')
    assert [(before, after) for _, before, after, _ in strings] == [
        ("'tf'", "'XXtfXX'"), ("-y", "+y"), ("not y", "not not y")]


def test_list_shows_the_mutants_that_only_and_lines_select(tmp_path, capsys):
    module = tmp_path / "toy.py"
    module.write_text(TOY)
    numbered = [(number, line) for number, (line, *_) in enumerate(mutate.mutants(TOY), 1)]

    def listed(*flags):
        assert mutate.main([str(module), "test_toy.py", "--list", *flags]) == 0
        return [(int(row.split()[0][1:]), int(row.split()[1].split(":")[1])) for row in capsys.readouterr().out.splitlines()]

    assert listed() == numbered
    assert listed("--lines", "6-8") == [(n, line) for n, line in numbered if 6 <= line <= 8]
    assert listed("--only", "2,3") == numbered[1:3]
    first_on_8 = next(n for n, line in numbered if line == 8)
    assert listed("--only", f"1,{first_on_8}", "--lines", "8-8") == [(first_on_8, 8)]


@pytest.mark.slow  # one pytest child per mutant
def test_run_tells_killed_from_surviving(tmp_path):
    """The command as the README gives it, in its own process: the runner forks one child per
    mutant, which it should do from a small process, not from a test session holding TensorFlow."""
    package = tmp_path / "toypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "toy.py").write_text(TOY)
    (tmp_path / "test_toy.py").write_text(textwrap.dedent('''\
        from toypkg.toy import clamp

        def test_low():
            assert clamp(-5) == 0 and clamp(0) == 0
    '''))
    repository = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), repository]))
    result = subprocess.run([sys.executable, "-m", "tools.mutate", "toypkg/toy.py", "test_toy.py", "--jobs", "2",
                             "--timeout", "120", "--preload", ""],
                            cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode == 1, result.stdout + result.stderr  # 1: mutants survived
    reported = {}  # "  survived #7 toypkg/toy.py:6: x < low -> x <= low" -> {"survived": {(6, "x < low -> x <= low")}}
    for line in result.stdout.splitlines():
        if line.startswith("  "):
            place, change = line.split(": ", 1)
            reported.setdefault(place.split()[0], set()).add((int(place.rsplit(":", 1)[1]), change))
    assert set(reported) == {"survived"}, result.stdout                  # no timeout, no error
    assert (6, "x < low -> x <= low") in reported["survived"]             # clamp(0) is 0 either way
    assert (8, "x > high -> x >= high") in reported["survived"]           # no test above `high`
    assert (4, "0 -> 1") not in reported["survived"]                      # clamp(-5) would be 1: killed
    total = len(mutate.mutants(TOY))
    killed = total - len(reported["survived"])
    assert f"killed {killed} / {total} (" in result.stdout


def test_module_names():
    assert mutate.module_name("toypkg/toy.py") == "toypkg.toy"
    assert mutate.module_name("toypkg/__init__.py") == "toypkg"
    with pytest.raises(ValueError, match="not a .py file under the working directory"):
        mutate.module_name("../elsewhere.py")


@pytest.mark.parametrize("test_body, baseline_timeout, message", [
    ("import lone\n\ndef test_value():\n    assert lone.VALUE == 2\n", 600, "the tests fail on the unmutated module"),
    ("import time\n\ndef test_hangs():\n    time.sleep(600)\n", 3, "ran past 3 s on the unmutated module"),
], ids=["failing", "hanging"])
def test_a_baseline_that_does_not_pass_is_refused(tmp_path, monkeypatch, test_body, baseline_timeout, message):
    (tmp_path / "lone.py").write_text("VALUE = 1\n")
    (tmp_path / "test_lone.py").write_text(test_body)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuntimeError, match=message):
        mutate.run("lone.py", ["test_lone.py"], out=io.StringIO(), baseline_timeout=baseline_timeout)


def test_a_mutants_source_is_what_inspect_reads_for_its_functions(tmp_path, monkeypatch):
    """AutoGraph and tracebacks read a function's lines by file and line number: they must see the
    mutant's code (laid out by `ast.unparse`), not the file's, or they convert the wrong lines."""
    import importlib
    import inspect
    import linecache

    path = tmp_path / "toy_source.py"
    path.write_text('"""A toy."""\n\n\n\ndef double(x):\n    return x + x\n')
    (_, before, after, code), = [m for m in mutate.mutants(path.read_text()) if m[1] == "x + x"]
    assert after == "x - x"
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", [mutate._MutantFinder("toy_source", str(path), code), *sys.meta_path])
    monkeypatch.delitem(sys.modules, "toy_source", raising=False)
    monkeypatch.setattr(linecache, "cache", dict(linecache.cache))  # the entry goes with the test
    toy = importlib.import_module("toy_source")
    try:
        assert toy.double(3) == 0
        assert inspect.getsource(toy.double).rstrip() == "def double(x):\n    return x - x"
    finally:
        sys.modules.pop("toy_source", None)
