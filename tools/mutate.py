"""Mutation testing of one module against the tests that cover it.

    python -m tools.mutate inception_tf/models/weights.py tests/models/test_weights.py --jobs 2

Each mutant is the module with one small change (a comparison flipped, `+` for `-`,
`and` for `or`, a number plus one, `True` for `False`, a string changed, a call
statement removed); a mutant is *killed* when a covering test fails on it. The
tests run with pytest in a child forked from a parent that has already imported
the heavy third-party packages (TensorFlow, Keras, onnx, ...; `--preload`), so a
mutant costs the tests' own time, not TensorFlow's start-up (~25 s here). The
parent imports nothing of the package under test: each child imports the module
fresh, with the mutated code in place of the file (nothing on disk changes).

A survivor is printed as `path:line: before -> after`; kill it with a test of the
property the change breaks, or argue why it is equivalent. Strings inside `raise`
statements and f-strings, `help=`/`description=`/`epilog=` texts and docstrings
are not mutated (messages are tested by their own tests; help texts are prose); a line ending in
`# pragma: no mutate` is skipped.
"""

import argparse
import ast
import copy
import importlib.abc
import importlib.util
import linecache
import os
import signal
import sys
import tempfile
import time

DEFAULT_PRELOAD = ("numpy", "tensorflow", "keras", "onnx", "onnxruntime", "tensorflow_datasets", "pytest")
SKIP_MARK = "# pragma: no mutate"
PROSE_KEYWORDS = ("help", "description", "epilog")  # argparse's texts for a human reader
COMPARE_SWAPS = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
BINOP_SWAPS = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
    ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
}
BOOLOP_SWAPS = {ast.And: ast.Or, ast.Or: ast.And}
# pytest's exit codes: 0 all passed (the mutant survived), 1 some failed (killed), 2 interrupted by a
# collection error (the mutant broke an import: killed); 3-5 (internal, usage, no tests) are errors.
SURVIVED, KILLED, INTERRUPTED = 0, 1, 2


def _protected_strings(tree):
    """ids of string constants left alone: docstrings, f-string parts, anything inside a `raise`,
    a `help=`, `description=` or `epilog=` text."""
    protected = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                protected.add(id(body[0].value))
        if isinstance(node, (ast.Raise, ast.JoinedStr)):
            protected.update(id(child) for child in ast.walk(node) if isinstance(child, ast.Constant))
        if isinstance(node, ast.keyword) and node.arg in PROSE_KEYWORDS:
            protected.update(id(child) for child in ast.walk(node.value) if isinstance(child, ast.Constant))
    return protected


def _swap_comparison(position):
    return lambda n: n.ops.__setitem__(position, COMPARE_SWAPS[type(n.ops[position])]())


def _mutations(node, protected):
    """The ways to mutate `node`: functions that change a copy of it in place."""
    if isinstance(node, ast.Compare):
        return [_swap_comparison(i) for i, op in enumerate(node.ops) if type(op) in COMPARE_SWAPS]
    change = _mutation(node, protected)
    return [] if change is None else [change]


def _mutation(node, protected):
    """The one way to mutate a node other than a comparison, or None."""
    if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in BINOP_SWAPS:
        return lambda n: setattr(n, "op", BINOP_SWAPS[type(n.op)]())
    if isinstance(node, ast.BoolOp):
        return lambda n: setattr(n, "op", BOOLOP_SWAPS[type(n.op)]())
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return lambda n: setattr(n, "op", ast.UAdd())
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):  # `not x` -> `not not x`, i.e. `bool(x)`
        return lambda n: setattr(n, "operand", ast.UnaryOp(ast.Not(), n.operand))
    if isinstance(node, ast.Constant) and id(node) not in protected:
        value = node.value
        if isinstance(value, bool):
            return lambda n: setattr(n, "value", not n.value)
        if isinstance(value, (int, float)):
            return lambda n: setattr(n, "value", n.value + 1)
        if isinstance(value, str):
            return lambda n: setattr(n, "value", f"XX{n.value}XX")
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        return lambda n: setattr(n, "value", ast.Constant(None))
    return None


def mutants(source):
    """Every mutant of `source`, in source order.

    Returns:
        A list of `(line, before, after, code)`: the 1-based line, the mutated
        expression or statement before and after (as source text), and the
        mutated module's source.
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    protected = _protected_strings(tree)
    sites = [(index, node) for index, node in enumerate(ast.walk(tree))
             if hasattr(node, "lineno") and not lines[node.lineno - 1].rstrip().endswith(SKIP_MARK)]
    found = []
    for (index, node), change in ((site, change) for site in sites for change in _mutations(site[1], protected)):
        mutated_tree = copy.deepcopy(tree)
        target = next(n for i, n in enumerate(ast.walk(mutated_tree)) if i == index)
        before = ast.unparse(target)
        change(target)
        found.append((node.lineno, before, ast.unparse(target), ast.unparse(mutated_tree)))
    found.sort(key=lambda mutant: mutant[0])
    return found


class _MutantFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports module `name` from `code` instead of its file.

    What reads a function's source by file and line (`inspect.getsource`, AutoGraph, tracebacks)
    reads `code`, not the file: its lines are what `linecache` holds for the path.
    """

    def __init__(self, name, path, code):
        self.name, self.path, self.source = name, path, code
        self.code = compile(code, path, "exec")

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        package = [os.path.dirname(self.path)] if os.path.basename(self.path) == "__init__.py" else None
        return importlib.util.spec_from_file_location(fullname, self.path, loader=self,
                                                      submodule_search_locations=package)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        # An entry without a modification time is never checked against the file.
        linecache.cache[self.path] = (len(self.source), None, self.source.splitlines(True), self.path)
        exec(self.code, module.__dict__)


def module_name(path):
    """`inception_tf/models/weights.py` -> `inception_tf.models.weights` (relative to the working directory)."""
    relative = os.path.relpath(os.path.abspath(path))
    if relative.startswith(os.pardir) or not relative.endswith(".py"):
        raise ValueError(f"{path!r} is not a .py file under the working directory {os.getcwd()!r}.")
    parts = relative[:-3].split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _start(name, path, code, pytest_args, log_path):
    """Forks a child that runs pytest on `pytest_args` with `code` as module `name`; returns its pid."""
    pid = os.fork()
    if pid:
        return pid
    try:
        os.setpgid(0, 0)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        if code is not None:
            sys.meta_path.insert(0, _MutantFinder(name, path, code))
        import pytest

        status = pytest.main(pytest_args)
    except BaseException:  # noqa: BLE001 -- a child must never return into the parent's loop
        status = 3
    os._exit(int(status))


def _wait(pid, deadline):
    """The child's pytest exit code, or None when it ran past `deadline` (then it is killed)."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.05)


DEFAULT_BASELINE_TIMEOUT = 1800.0  # seconds the unmutated tests may take


def _selected(number, line, only, lines):
    """Whether mutant `number`, on `line`, is among `--only` numbers and inside the `--lines` range."""
    return (only is None or number in only) and (lines is None or lines[0] <= line <= lines[1])


def run(path, tests, jobs=1, timeout=None, only=None, lines=None, pytest_args=(), out=sys.stdout,
        baseline_timeout=DEFAULT_BASELINE_TIMEOUT):
    """Runs every mutant of `path` against `tests`; returns `{"killed": [...], "survived": [...], ...}`.

    Args:
        path: the module's file, under the working directory.
        tests: list of test files or node ids that cover it.
        jobs: int. Mutants run at once (each one pytest child).
        timeout: float or None. Seconds per mutant; None: 3x the unmutated run plus 10 s.
        only: set of 1-based mutant numbers to run, or None for all.
        lines: (first, last) line range to mutate, or None.
        pytest_args: extra pytest arguments (`-k expression`, ...).
        out: where progress and survivors are printed.
        baseline_timeout: float. Seconds the tests may take on the unmutated
            module; past them the run stops with an error (a hanging test
            would otherwise hold the runner for ever).

    Each entry of the returned lists is `(number, line, before, after)`; keys
    `killed`, `survived`, `timeout` (counted as killed) and `error` (pytest could not
    run the tests: an internal or usage error, or no test collected).
    """
    with open(path, encoding="utf-8") as handle:
        source = handle.read()
    name = module_name(path)
    args = [*tests, "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=", *pytest_args]
    logs = tempfile.mkdtemp(prefix="mutate-")
    started = time.monotonic()
    baseline = _wait(_start(name, path, None, args, os.path.join(logs, "baseline.log")), started + baseline_timeout)
    if baseline is None:
        raise RuntimeError(f"the tests ran past {baseline_timeout:.0f} s on the unmutated module and were stopped "
                           f"(--baseline-timeout); see {os.path.join(logs, 'baseline.log')}")
    if baseline != SURVIVED:
        raise RuntimeError(f"the tests fail on the unmutated module (pytest exit {baseline}); "
                           f"see {os.path.join(logs, 'baseline.log')}")
    elapsed = time.monotonic() - started
    timeout = timeout or 3 * elapsed + 10
    todo = [(number, mutant) for number, mutant in enumerate(mutants(source), 1)
            if _selected(number, mutant[0], only, lines)]
    print(f"{name}: {len(todo)} mutants; tests take {elapsed:.1f} s unmutated; timeout {timeout:.0f} s; "
          f"logs in {logs}", file=out, flush=True)
    results = {"killed": [], "survived": [], "timeout": [], "error": []}
    running = {}
    try:
        _run_all(name, path, args, logs, todo, jobs, timeout, running, results, out)
    finally:  # interrupted: no child outlives the runner
        for pid in running:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    total = sum(len(entries) for entries in results.values())
    killed = len(results["killed"]) + len(results["timeout"])
    print(f"{name}: killed {killed} / {total} ({100 * killed / max(total, 1):.0f}%), survived "
          f"{len(results['survived'])}, errors {len(results['error'])}, in {time.monotonic() - started:.0f} s",
          file=out, flush=True)
    return results


def _run_all(name, path, args, logs, todo, jobs, timeout, running, results, out):
    """Runs the mutants of `todo`, `jobs` at a time, filling `results` (and `running` while they run)."""
    while todo or running:
        while todo and len(running) < jobs:
            number, (line, before, after, code) = todo.pop(0)
            log_path = os.path.join(logs, f"mutant-{number}.log")
            running[_start(name, path, code, args, log_path)] = (number, line, before, after, time.monotonic())
        pid = next(iter(running))
        number, line, before, after, begun = running[pid]
        status = _wait(pid, begun + timeout)
        del running[pid]
        kind = {None: "timeout", SURVIVED: "survived", KILLED: "killed", INTERRUPTED: "killed"}.get(status, "error")
        results[kind].append((number, line, before, after))
        if kind != "killed":
            print(f"  {kind} #{number} {path}:{line}: {before} -> {after}", file=out, flush=True)


def _preload(names):
    for package in names:
        try:
            __import__(package)
        except ImportError:
            pass


def _numbers(text):
    return {int(part) for part in text.split(",") if part}


def _line_range(text):
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.mutate", description=__doc__.split("\n\n")[0])
    parser.add_argument("module", help="the module's .py file, e.g. inception_tf/models/weights.py")
    parser.add_argument("tests", nargs="+", help="test files (or node ids) that cover it")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds per mutant (default: 3x the unmutated run + 10)")
    parser.add_argument("--baseline-timeout", type=float, default=DEFAULT_BASELINE_TIMEOUT,
                        help=f"seconds the unmutated run may take (default {DEFAULT_BASELINE_TIMEOUT:.0f})")
    parser.add_argument("--only", type=_numbers, default=None, help="mutant numbers to run, e.g. 3,17")
    parser.add_argument("--lines", type=_line_range, default=None, help="line range to mutate, e.g. 120-180")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--preload", default=",".join(DEFAULT_PRELOAD),
                        help="packages imported once before forking (comma-separated; missing ones are skipped)")
    parser.add_argument("-k", dest="keyword", default=None, help="pytest -k expression")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1. Received: {args.jobs}")
    if args.list:
        with open(args.module, encoding="utf-8") as handle:
            for number, (line, before, after, _) in enumerate(mutants(handle.read()), 1):
                if _selected(number, line, args.only, args.lines):
                    print(f"#{number} {args.module}:{line}: {before} -> {after}")
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # stops the children too
    _preload([name for name in args.preload.split(",") if name])
    results = run(args.module, args.tests, jobs=args.jobs, timeout=args.timeout, only=args.only, lines=args.lines,
                  pytest_args=["-k", args.keyword] if args.keyword else [], baseline_timeout=args.baseline_timeout)
    return 1 if results["survived"] or results["error"] else 0


if __name__ == "__main__":
    sys.exit(main())
