"""Cost tables as `inception-tf costs` prints them, beside the paper's Table 1."""

from inception_tf.models import costs
from inception_tf.models.googlenet import GoogLeNet, SlideNet
from inception_tf.models.recipes import COST_REPORTS, SLIDE_EXAMPLE

# Table 1 of Szegedy et al. 2014 as printed: params in K, ops in M multiply-adds.
PAPER_TABLE_1 = {
    "conv1": (2.7, 34), "conv2": (112, 360),
    "inception (3a)": (159, 128), "inception (3b)": (380, 304),
    "inception (4a)": (364, 73), "inception (4b)": (437, 88), "inception (4c)": (463, 100),
    "inception (4d)": (580, 119), "inception (4e)": (840, 170),
    "inception (5a)": (1072, 54), "inception (5b)": (1388, 71),
    "linear": (1000, 1),
}

# Rows whose printed ops no dense arithmetic of Table 1's own shapes reproduces.
PAPER_INCONSISTENT_OPS = ("conv1", "inception (5a)")

# Paper row -> our layers. Table 1 lists conv2 with its 1x1 reduction.
_ROW_LAYERS = (
    ("conv1", ("conv1",)), ("max pool", ("pool1",)), ("LRN", ("lrn1",)),
    ("conv2", ("conv2_reduce", "conv2")), ("LRN", ("lrn2",)), ("max pool", ("pool2",)),
    ("inception (3a)", ("inception_3a",)), ("inception (3b)", ("inception_3b",)),
    ("max pool", ("pool3",)),
    ("inception (4a)", ("inception_4a",)), ("inception (4b)", ("inception_4b",)),
    ("inception (4c)", ("inception_4c",)), ("inception (4d)", ("inception_4d",)),
    ("inception (4e)", ("inception_4e",)), ("max pool", ("pool4",)),
    ("inception (5a)", ("inception_5a",)), ("inception (5b)", ("inception_5b",)),
    ("avg pool", ("avg_pool",)), ("dropout (40%)", ("dropout",)),
    ("linear", ("logits",)), ("softmax", ("predictions",)),
)


def ops_match_paper(mult_adds, paper_millions):
    """Whether our count agrees with a printed ops entry.

    The paper prints whole millions, so a count agrees when it is within 1% of
    the printed number or rounds to it (linear: 1.024 M prints as 1 M).
    """
    millions = mult_adds / 1e6
    return abs(millions - paper_millions) <= 0.01 * paper_millions or round(millions) == paper_millions


def googlenet_table(image_size=224):
    """Rows of Table 1 with our counts: a list of dicts.

    Each dict has `row`, `layers`, `output_shape`, `params`, `mult_adds`,
    `paper_params_k` and `paper_ops_m` (None where the paper prints nothing).
    """
    model = GoogLeNet(input_shape=(image_size, image_size, 3), data_format="channels_last")
    by_name = {cost.name: cost for cost in costs.model_costs(model)}
    table = []
    for row, layer_names in _ROW_LAYERS:
        layer_costs = [by_name[name] for name in layer_names]
        paper = PAPER_TABLE_1.get(row, (None, None))
        table.append(
            {
                "row": row,
                "layers": layer_names,
                "output_shape": layer_costs[-1].output_shape,
                "params": sum(c.params for c in layer_costs),
                "mult_adds": sum(c.mult_adds for c in layer_costs),
                "paper_params_k": paper[0],
                "paper_ops_m": paper[1],
            }
        )
    return table


def _shape(shape):
    return "x".join(str(size) for size in shape)


def _conv1_as_separable():
    """conv1's printed 2.7K / 34M, reproduced by a depthwise-separable 7x7/2 conv.

    Depthwise 7x7 over 3 channels with depth multiplier 8, then a 1x1
    convolution from 24 to 64 channels, at 112x112 output.
    """
    depthwise = 7 * 7 * 3 * 8
    pointwise = 24 * 64
    return depthwise + pointwise, 112 * 112 * (depthwise + pointwise)


def googlenet_report(image_size=224):
    """The GoogLeNet cost table beside Table 1, as lines of text."""
    table = googlenet_table(image_size)
    header = (
        f"{'layer':<16}{'output':>14}{'params':>12}{'mult-adds':>15}"
        f"{'paper params':>14}{'paper ops':>11}{'ours/paper':>12}"
    )
    lines = [f"GoogLeNet at {image_size}x{image_size}x3 (Szegedy et al. 2014, Table 1)", header,
             "-" * len(header)]
    for entry in table:
        paper_k, paper_m = entry["paper_params_k"], entry["paper_ops_m"]
        mark = ""
        ratio = ""
        if paper_m is not None and image_size == 224:
            ratio = f"{entry['mult_adds'] / 1e6 / paper_m:.3f}"
            if not ops_match_paper(entry["mult_adds"], paper_m):
                mark = " *" if entry["row"] in PAPER_INCONSISTENT_OPS else " !"
        lines.append(
            f"{entry['row']:<16}{_shape(entry['output_shape']):>14}{entry['params']:>12,}"
            f"{entry['mult_adds']:>15,}"
            f"{(f'{paper_k}K' if paper_k is not None else ''):>14}"
            f"{(f'{paper_m}M' if paper_m is not None else ''):>11}{ratio:>12}{mark}"
        )
    params = sum(e["params"] for e in table)
    mult_adds = sum(e["mult_adds"] for e in table)
    lines.append("-" * len(header))
    lines.append(f"{'total':<16}{'':>14}{params:>12,}{mult_adds:>15,}   ({mult_adds / 1e9:.3f} G multiply-adds)")
    if image_size == 224:
        lines += _notes()
    return lines


def _notes():
    sep_params, sep_ops = _conv1_as_separable()
    return [
        "",
        "Every ops entry agrees with ours (within 1%, or rounding to the printed whole",
        "million) except the rows marked *, where the paper is inconsistent with itself:",
        f"  conv1: a dense 7x7/2 conv from 3 to 64 channels has 9,408 weights and costs",
        f"    118.0M; the printed 2.7K/34M fit a depthwise-separable conv instead",
        f"    (7x7 depthwise x8 + 1x1 to 64: {sep_params:,} weights, {sep_ops / 1e6:.1f}M).",
        "  inception (5a): the same filters as 4e on a 7x7 map cost 51.1M; no reading of",
        "    the row's numbers gives the printed 54M.",
        "The paper's params column counts weights without biases in K = 1024 in some rows",
        "(conv2 112K = 114,688 weights, linear 1000K = 1,024,000) and fits no single",
        "rule in others (4c 463K against 509,440 weights); ours are exact counts,",
        "biases included.",
    ]


def slidenet_report():
    """The SlideNet cost table, as lines of text."""
    rows = costs.model_costs(SlideNet())
    lines = ["SlideNet (the slide source's MNIST network), 28x28x1 input",
             f"{'layer':<14}{'output':>14}{'params':>14}{'mult-adds':>15}"]
    for row in rows:
        lines.append(f"{row.name:<14}{_shape(row.output_shape):>14}{row.params:>14,}{row.mult_adds:>15,}")
    params, mult_adds = costs.total(rows)
    lines.append(f"{'total':<14}{'':>14}{params:>14,}{mult_adds:>15,}")
    return lines


def model_cost_report(model, image_size=None):
    """Lines printed by `inception-tf costs --model MODEL`."""
    if model == "googlenet":
        return googlenet_report(image_size or 224)
    if model == "slidenet":
        if image_size not in (None, 28):
            raise ValueError(f"SlideNet takes 28x28 inputs. Received: --image-size={image_size}")
        return slidenet_report()
    raise ValueError(f"model must be 'googlenet' or 'slidenet'. Received: model={model!r}")


def cost_report(model, image_size=None):
    """Lines printed by `inception-tf costs --model MODEL`: slide 11's example, or a model's layers.

    Args:
        model: str. One of `COST_REPORTS`: `"slide11"` (slide 11's fixed 28x28x192 example) or a model.
        image_size: int or None. The model's input height and width (default: its own).

    Raises:
        ValueError: an unknown `model`, an image size for slide 11's example, or one the model cannot take.
    """
    if model not in COST_REPORTS:
        raise ValueError(f"model must be one of {COST_REPORTS}. Received: model={model!r}")
    if model != SLIDE_EXAMPLE:
        return model_cost_report(model, image_size=image_size)
    if image_size is not None:
        raise ValueError(f"{SLIDE_EXAMPLE} counts slide 11's fixed 28x28x192 example; image_size (--image-size) "
                         f"applies to a model. Received: image_size={image_size}")
    return costs.ReductionExample().report()
