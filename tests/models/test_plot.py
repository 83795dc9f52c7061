"""Diagrams of the module and of GoogLeNet."""

import shutil

import pytest

from inception_tf.models import plot

# pydot and Graphviz are an optional extra and a system package; .ci/run installs both.
needs_graphviz = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@needs_graphviz
@pytest.mark.parametrize("name", ["module", "googlenet"])
def test_diagrams_render(tmp_path, name):
    path = plot.plot(name, tmp_path / f"{name}.png")
    content = open(path, "rb").read()
    assert content.startswith(PNG_SIGNATURE) and len(content) > 10_000


@needs_graphviz
def test_module_diagram_shows_every_branch(tmp_path):
    path = plot.plot("module", tmp_path / "module.svg")
    svg = open(path).read()
    for branch in ("branch_1x1", "branch_3x3_reduce", "branch_3x3", "branch_5x5_reduce", "branch_5x5",
                   "branch_pool", "branch_pool_proj", "concat"):
        assert branch in svg, branch


def test_unknown_diagram():
    with pytest.raises(ValueError, match="name must be one of"):
        plot.diagram_model("alexnet")


@needs_graphviz
def test_cli_plot(tmp_path, run_cli):
    output = tmp_path / "googlenet.png"
    result = run_cli("plot", "--model", "googlenet", "--output", output)
    assert result.returncode == 0, result.stderr[-2000:]
    assert output.read_bytes().startswith(PNG_SIGNATURE)
