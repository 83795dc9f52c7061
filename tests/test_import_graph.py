"""The package's import graph, read with `ast` (nothing is imported): no circle, imports run down the layers.

Every import counts, at module level and inside functions alike: an import
moved into a function to dodge a circle is still a circle. `LAYERS` is the
package's layering as README's "Layout" states it.
"""

import ast
import pathlib

import pytest

PACKAGE = "inception_tf"
REPOSITORY = pathlib.Path(__file__).resolve().parents[1]

# Lowest first. A module may import its own layer and the layers below it. An
# entry names a module or a package (and every module under it); the longest
# entry that covers a module gives its layer. A layer given as a dict is made
# of peers, wings of the same rank: each may import the layers below, its own
# wing, and no other wing of its layer. The package's own `__init__` (the
# public API) re-exports from any layer, and no module imports it.
LAYERS = (
    ("base", ("inception_tf.calibration", "inception_tf.checks", "inception_tf.crops", "inception_tf.files",
              "inception_tf.geometry", "inception_tf.imagenet", "inception_tf.images", "inception_tf.runtime")),
    ("models", ("inception_tf.models",)),
    ("run directory", ("inception_tf.runs",)),
    ("datasets", ("inception_tf.datasets",)),
    ("wings", {"training": ("inception_tf.training",), "serving": ("inception_tf.serving",),
               "evaluation": ("inception_tf.evaluation",)}),
    ("command line", ("inception_tf.cli",)),
)

# Imports known to break the rules, each with the change that removes it. The
# test of this list fails once an import is gone, so the list only shrinks.
PENDING = {}

# Shared definitions that import nothing of the package, so that every module above reads them.
LEAVES = ("inception_tf.models.architecture", "inception_tf.calibration", "inception_tf.datasets.names")


def module_files(root, package=PACKAGE):
    """`{module name: path}` of every `.py` file of `package` under the directory `root`."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _base_of(node, module, is_package):
    """The absolute module a `from ... import` names, relative imports resolved."""
    if not node.level:
        return node.module or ""
    anchor = module.split(".") if is_package else module.split(".")[:-1]
    anchor = anchor[: len(anchor) - node.level + 1]
    return ".".join(anchor + ([node.module] if node.module else []))


def _bindings(tree, module, is_package, modules):
    """`[(line, imported module, imported name or None, (local name, module it names) or None)]`.

    One row per intra-package import. The imported name is a `from` import's
    name where that is no module; the pair is what the statement binds to a
    module (`import a.b` binds `a` to the package `a`).
    """
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    binding = (alias.asname, alias.name) if alias.asname else ((alias.name.split(".")[0],) * 2)
                    found.append((node.lineno, alias.name, None, binding))
        elif isinstance(node, ast.ImportFrom):
            base = _base_of(node, module, is_package)
            for alias in node.names:
                child = f"{base}.{alias.name}"
                if child in modules:
                    found.append((node.lineno, child, None, (alias.asname or alias.name, child)))
                elif base in modules:
                    found.append((node.lineno, base, alias.name, None))
    return found


def import_graph(root, package=PACKAGE):
    """`{module: {imported module: first line}}` of the package's intra-package imports, at any depth."""
    modules = module_files(root, package)
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges = graph.setdefault(module, {})
        for line, target, _, _ in _bindings(tree, module, path.name == "__init__.py", modules):
            if target != module:
                edges.setdefault(target, line)
    return graph


def find_cycle(graph):
    """A circle of imports as the path `[a, b, ..., a]`, or None."""
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[module] = "done"
        stack.pop()
        return None

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def _entries(layers):
    """`[(entry, layer index, wing name or None)]` of every entry of `layers`."""
    found = []
    for index, (_, entries) in enumerate(layers):
        wings = entries.items() if isinstance(entries, dict) else [(None, entries)]
        found.extend((entry, index, wing) for wing, names in wings for entry in names)
    return found


def placement(module, layers=LAYERS):
    """`(layer index, wing name or None)` of `module` in `layers`, or None where no entry covers it."""
    covering = [(len(entry), index, wing or "") for entry, index, wing in _entries(layers)
                if module == entry or module.startswith(entry + ".")]
    if not covering:
        return None
    _, index, wing = max(covering)
    return index, wing or None


def layer_of(module, layers=LAYERS):
    """The index in `layers` of `module`'s layer, or None where no entry covers it."""
    place = placement(module, layers)
    return None if place is None else place[0]


def place_name(module, layers=LAYERS, package=PACKAGE):
    """What an error calls `module`'s place: its layer's name, or its wing's (`"serving wing"`)."""
    if module == package:
        return "the public API"
    index, wing = placement(module, layers)
    return f"{wing} wing" if wing else layers[index][0]


def _imports_wrong_way(module, target, layers):
    """Whether `module` may not import `target`: a higher layer, or another wing of its own layer."""
    source, goal = placement(module, layers), placement(target, layers)
    if goal is None:
        return False
    return goal[0] > source[0] or (goal[0] == source[0] and goal[1] != source[1])


def wrong_way_imports(graph, layers=LAYERS, package=PACKAGE):
    """`[(module, imported module, line)]`: imports of a higher layer, of a peer wing, or of the package's `__init__`.

    Modules in no layer are left to `test_every_module_is_in_a_layer`.
    """
    wrong = []
    for module, edges in sorted(graph.items()):
        if module == package or layer_of(module, layers) is None:
            continue
        for target, line in sorted(edges.items()):
            if target == package or _imports_wrong_way(module, target, layers):
                wrong.append((module, target, line))
    return wrong


def private_uses(root, package=PACKAGE):
    """`[(module, "other._name", line)]`: private names of one module used by another.

    Both `from other import _name` and `other._name` (on a module the file
    imported) count; dunder names do not.
    """
    modules = module_files(root, package)
    found = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        bindings = _bindings(tree, module, path.name == "__init__.py", modules)
        for line, target, name, _ in bindings:
            if name and _is_private(name) and target != module:
                found.append((module, f"{target}.{name}", line))
        bound = dict(binding for _, _, _, binding in bindings if binding)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _is_private(node.attr):
                owner = _module_named(node.value, bound, modules)
                if owner and owner != module:
                    found.append((module, f"{owner}.{node.attr}", node.lineno))
    return sorted(found)


def _is_private(name):
    return name.startswith("_") and not name.startswith("__")


def _module_named(node, bound, modules):
    """The module an expression such as `data` or `inception_tf.training.data` names, or None."""
    names = []
    while isinstance(node, ast.Attribute):
        names.insert(0, node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or node.id not in bound:
        return None
    dotted = ".".join([bound[node.id], *names])
    return dotted if dotted in modules else None


def _without(graph, edges):
    return {module: {target: line for target, line in targets.items() if (module, target) not in edges}
            for module, targets in graph.items()}


@pytest.fixture(scope="module")
def graph():
    return import_graph(REPOSITORY)


def test_every_module_is_in_a_layer(graph):
    unplaced = [module for module in graph if module != PACKAGE and layer_of(module) is None]
    assert not unplaced, f"modules in no layer of LAYERS (add each where it belongs): {unplaced}"


def test_no_circle_of_imports(graph):
    cycle = find_cycle(_without(graph, PENDING))
    assert cycle is None, "a circle of imports: " + " -> ".join(cycle or ())


def test_imports_run_down_the_layers(graph):
    wrong = wrong_way_imports(_without(graph, PENDING))
    lines = [f"{module} ({place_name(module)}) imports {target} ({place_name(target)}), line {line}"
             for module, target, line in wrong]
    assert not wrong, "imports against the layering:\n" + "\n".join(lines)


def test_shared_definitions_are_leaves(graph):
    assert {leaf: graph[leaf] for leaf in LEAVES} == {leaf: {} for leaf in LEAVES}


def test_pending_imports_are_still_there(graph):
    gone = [edge for edge in PENDING if edge[1] not in graph.get(edge[0], {})]
    assert not gone, f"these imports are gone: remove them from PENDING: {gone}"


def test_no_module_uses_anothers_private_names():
    uses = private_uses(REPOSITORY)
    assert not uses, f"private names used across modules (make them public, with a docstring, or move them): {uses}"


# The checks themselves, on a small planted package.

def _plant(root, files):
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


PLANTED_LAYERS = (("low", ("pkg.low",)), ("high", ("pkg.high",)))


def test_planted_circle_through_a_function_level_import_is_found_with_its_path(tmp_path):
    root = _plant(tmp_path, {
        "__init__.py": "",
        "low/__init__.py": "",
        "low/a.py": "from pkg.low import b\n",
        "low/b.py": "def f():\n    from . import c\n",
        "low/c.py": "import pkg.low.a as alias\n",
        "low/d.py": "from pkg.low.a import something\n",
    })
    graph = import_graph(root, "pkg")
    assert graph["pkg.low.a"] == {"pkg.low.b": 1}
    assert graph["pkg.low.b"] == {"pkg.low.c": 2}  # relative, inside a function
    assert graph["pkg.low.d"] == {"pkg.low.a": 1}  # a name from a module: the module
    assert find_cycle(graph) == ["pkg.low.a", "pkg.low.b", "pkg.low.c", "pkg.low.a"]
    assert find_cycle(_without(graph, {("pkg.low.c", "pkg.low.a")})) is None


def test_planted_wrong_way_imports_are_found(tmp_path):
    root = _plant(tmp_path, {
        "__init__.py": "from pkg.high import api\n",  # the public API re-exports from any layer
        "low/__init__.py": "",
        "low/base.py": "def f():\n    import pkg.high.api\n",
        "low/root_user.py": "import pkg\n",
        "low/fine.py": "from pkg.low import base\n",
        "high/__init__.py": "",
        "high/api.py": "from pkg.low.base import f\n",
    })
    graph = import_graph(root, "pkg")
    assert layer_of("pkg.high.api", PLANTED_LAYERS) == 1 and layer_of("pkg.other", PLANTED_LAYERS) is None
    assert wrong_way_imports(graph, PLANTED_LAYERS, "pkg") == [
        ("pkg.low.base", "pkg.high.api", 2),
        ("pkg.low.root_user", "pkg", 1),
    ]


PLANTED_WINGS = (("low", ("pkg.low",)), ("wings", {"left": ("pkg.left",), "right": ("pkg.right", "pkg.extra")}),
                 ("high", ("pkg.high",)))


def test_planted_imports_between_peer_wings_are_found(tmp_path):
    root = _plant(tmp_path, {
        "__init__.py": "",
        "low/__init__.py": "",
        "low/base.py": "",
        "left/__init__.py": "",
        "left/a.py": "from pkg.low import base\nfrom pkg.left import b\n",  # below, and its own wing: fine
        "left/b.py": "def f():\n    from pkg.right import c\n",  # a peer wing, inside a function
        "right/__init__.py": "",
        "right/c.py": "import pkg.extra\nimport pkg.high.top\n",  # its own wing's other entry; a higher layer
        "extra.py": "from pkg.left.a import f\n",  # a peer wing, from a module entry
        "high/__init__.py": "",
        "high/top.py": "from pkg.left import a\nfrom pkg.right import c\n",  # above the wings: both fine
    })
    graph = import_graph(root, "pkg")
    assert placement("pkg.extra", PLANTED_WINGS) == (1, "right") and placement("pkg.low.base", PLANTED_WINGS) == (0, None)
    assert placement("pkg.other", PLANTED_WINGS) is None and layer_of("pkg.left.a", PLANTED_WINGS) == 1
    assert wrong_way_imports(graph, PLANTED_WINGS, "pkg") == [
        ("pkg.extra", "pkg.left.a", 1),
        ("pkg.left.b", "pkg.right.c", 2),
        ("pkg.right.c", "pkg.high.top", 2),
    ]
    assert [place_name(module, PLANTED_WINGS, "pkg") for module in ("pkg.left.b", "pkg.high.top", "pkg")] == [
        "left wing", "high", "the public API"]


def test_planted_private_uses_are_found(tmp_path):
    root = _plant(tmp_path, {
        "__init__.py": "",
        "a.py": "def _hidden():\n    pass\n\n\ndef shown():\n    return _hidden()\n",
        "b.py": "from pkg.a import _hidden, shown\n",
        "c.py": "def f():\n    from pkg import a\n    return a._hidden(), a.__name__\n",
        "d.py": "import pkg.a\n\nvalue = pkg.a._hidden\nobject()._private\n",
    })
    assert private_uses(root, "pkg") == [
        ("pkg.b", "pkg.a._hidden", 1),
        ("pkg.c", "pkg.a._hidden", 3),
        ("pkg.d", "pkg.a._hidden", 3),
    ]
