"""Diagrams of the module and of GoogLeNet."""

import re
import shutil
import struct

import numpy as np
import pytest

from inception_tf import InceptionModule
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
    for branch in ("previous_layer", "branch_1x1", "branch_3x3_reduce", "branch_3x3", "branch_5x5_reduce",
                   "branch_5x5", "branch_pool", "branch_pool_proj", "concat"):
        assert branch in svg, branch


@needs_graphviz
@pytest.mark.parametrize("dpi,scale", [(None, "1"), (144, "2")])
def test_resolution_is_graphviz_points_by_default(tmp_path, dpi, scale):
    # Graphviz lays out in points (1/72 inch): at the default 72 dpi an SVG is drawn unscaled.
    kwargs = {} if dpi is None else {"dpi": dpi}
    svg = open(plot.plot("module", tmp_path / "module.svg", **kwargs)).read()
    assert re.findall(r"scale\(([^)]*)\)", svg)[0] == f"{scale} {scale}"
    png = open(plot.plot("module", tmp_path / "module.png", **kwargs), "rb").read()
    width, height = struct.unpack(">II", png[16:24])  # the PNG header's IHDR chunk
    svg_size = re.search(r'<svg width="(\d+)pt" height="(\d+)pt"', svg).groups()
    assert (width, height) == tuple(int(size) for size in svg_size)


@needs_graphviz
@pytest.mark.parametrize("extension,signature", [("pdf", b"%PDF-"), ("PNG", PNG_SIGNATURE), ("svg", b"<?xml")])
def test_format_follows_the_extension(tmp_path, extension, signature):
    path = plot.plot("module", tmp_path / f"module.{extension}")
    assert open(path, "rb").read().startswith(signature)


def test_module_diagram_is_googlenets_3a():
    # Table 1: inception (3a) takes 28x28x192 and gives 28x28x256 (64 + 128 + 32 + 32).
    model = plot.diagram_model("module")
    assert model.name == "inception_3a" and model.layers[0].name == "previous_layer"
    assert model.input_shape == (None, 28, 28, 192) and model.output_shape == (None, 28, 28, 256)
    filters = {layer.name: layer.filters for layer in model.layers if hasattr(layer, "filters")}
    assert filters == {"branch_1x1": 64, "branch_3x3_reduce": 96, "branch_3x3": 128, "branch_5x5_reduce": 16,
                       "branch_5x5": 32, "branch_pool_proj": 32}


def test_googlenet_diagram_shows_the_auxiliary_heads():
    assert sorted(plot.diagram_model("googlenet").output) == ["aux1", "aux2", "main"]


@pytest.mark.parametrize("prebuilt", [False, True])
def test_module_graph_computes_the_module(rng, prebuilt):
    module = InceptionModule(4, 3, 4, 2, 3, 2, relu="as_written", data_format="channels_last")
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    if prebuilt:
        module.build((None, 8, 8, 3))
    graph = plot.module_graph(module, (8, 8, 3))
    assert module.built
    np.testing.assert_allclose(np.asarray(graph(x)), np.asarray(module(x)), rtol=1e-6, atol=1e-6)


def test_unknown_diagram():
    with pytest.raises(ValueError, match="name must be one of"):
        plot.diagram_model("alexnet")


@needs_graphviz
def test_cli_plot(tmp_path, run_cli):
    output = tmp_path / "googlenet.png"
    result = run_cli("plot", "--model", "googlenet", "--output", output)
    assert result.returncode == 0, result.stderr[-2000:]
    assert output.read_bytes().startswith(PNG_SIGNATURE)
