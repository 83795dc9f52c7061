"""The Table 1 comparison printed by `inception-tf costs --model googlenet`."""

import pytest

from inception_tf.models import report
from tests.models.test_googlenet import TABLE_1, conv_params

# Szegedy et al. 2014 (arXiv:1409.4842), Table 1's printed columns: params in K, ops in M.
PRINTED_PARAMS_K = {"conv1": 2.7, "conv2": 112, "3a": 159, "3b": 380, "4a": 364, "4b": 437, "4c": 463,
                    "4d": 580, "4e": 840, "5a": 1072, "5b": 1388, "linear": 1000}
PRINTED_OPS_M = {"conv1": 34, "conv2": 360, "3a": 128, "3b": 304, "4a": 73, "4b": 88, "4c": 100,
                 "4d": 119, "4e": 170, "5a": 54, "5b": 71, "linear": 1}
# The report's fixed-width columns: row, output, params, mult-adds, paper params, paper ops, ratio, mark.
COLUMNS = ((0, 16), (16, 30), (30, 42), (42, 57), (57, 71), (71, 82), (82, 94), (94, None))


def module_mult_adds(size, cin, f1, r3, f3, r5, f5, pp):
    return size * size * (cin * f1 + cin * r3 + 9 * r3 * f3 + cin * r5 + 25 * r5 * f5 + cin * pp)


def independent_total():
    total = 112 * 112 * 49 * 3 * 64 + 56 * 56 * (64 * 64 + 9 * 64 * 192)
    channels = 192
    for name, *filters in TABLE_1:
        size = {"3": 28, "4": 14, "5": 7}[name[0]]
        total += module_mult_adds(size, channels, *filters)
        channels = filters[0] + filters[2] + filters[4] + filters[5]
    return total + 1024 * 1000


@pytest.fixture(scope="module")
def table():
    return report.googlenet_table()


def test_every_consistent_row_matches_the_paper(table):
    checked = 0
    for entry in table:
        if entry["paper_ops_m"] is None:
            continue
        matches = report.ops_match_paper(entry["mult_adds"], entry["paper_ops_m"])
        assert matches != (entry["row"] in report.PAPER_INCONSISTENT_OPS), entry
        checked += 1
    assert checked == 12


def test_total_is_about_1_58_g(table):
    total = sum(entry["mult_adds"] for entry in table)
    assert total == independent_total()
    assert 1.57e9 < total < 1.59e9


def test_conv1_explanation_reproduces_the_printed_row():
    params, mult_adds = report._conv1_as_separable()
    assert round(params / 1000, 1) == 2.7
    assert round(mult_adds / 1e6) == 34


def test_report_marks_and_explains_the_inconsistent_rows():
    text = "\n".join(report.googlenet_report())
    assert f"{independent_total():,}" in text  # the total, computed from Table 1 by this file
    conv1 = next(line for line in text.splitlines() if line.startswith("conv1"))
    assert conv1.rstrip().endswith("*") and "2.7K" in conv1 and "34M" in conv1
    assert " !" not in text  # no unexplained disagreement
    assert "depthwise-separable" in text and "K = 1024" in text


@pytest.fixture(scope="module")
def slidenet_lines():
    return report.slidenet_report()  # builds SlideNet once: its 140M-weight fc1 takes seconds


def test_slidenet_report_totals(slidenet_lines):
    assert slidenet_lines[-1].split()[1] == "140,573,758"


def module_params(cin, f1, r3, f3, r5, f5, pp):
    return (conv_params(1, cin, f1) + conv_params(1, cin, r3) + conv_params(3, r3, f3)
            + conv_params(1, cin, r5) + conv_params(5, r5, f5) + conv_params(1, cin, pp))


def test_slidenet_report_rows_follow_the_slide_source(slidenet_lines):
    # The blog post the slide shows: module 1 with 32 filters a branch and 16 a reduction on 28x28x1,
    # module 2 with 64 and 16; flatten 28*28*4*64; FC 700; FC 10.
    first, second = (32, 16, 32, 16, 32, 32), (64, 16, 64, 16, 64, 64)
    flat = 28 * 28 * 4 * 64
    expected = [
        ("preprocessing", "28x28x1", 0, 0),
        ("inception_1", "28x28x128", module_params(1, *first), module_mult_adds(28, 1, *first)),
        ("inception_2", "28x28x256", module_params(128, *second), module_mult_adds(28, 128, *second)),
        ("flatten", str(flat), 0, 0),
        ("fc1", "700", flat * 700 + 700, flat * 700),
        ("dropout", "700", 0, 0),
        ("logits", "10", 700 * 10 + 10, 700 * 10),
        ("predictions", "10", 0, 0),
    ]
    assert slidenet_lines[0] == "SlideNet (the slide source's MNIST network), 28x28x1 input"
    assert slidenet_lines[1].split() == ["layer", "output", "params", "mult-adds"]
    rows = [line.split() for line in slidenet_lines[2:-1]]
    assert rows == [[name, output, f"{params:,}", f"{ops:,}"] for name, output, params, ops in expected]
    assert slidenet_lines[-1].split() == ["total", f"{sum(e[2] for e in expected):,}",
                                          f"{sum(e[3] for e in expected):,}"]


def test_unknown_model():
    with pytest.raises(ValueError, match="model must be"):
        report.model_cost_report("alexnet")


def test_cost_report_names_slide_11_or_a_model_and_refuses_the_rest(monkeypatch):
    monkeypatch.setattr(report, "slidenet_report", lambda: ["slidenet report"])
    monkeypatch.setattr(report, "googlenet_report", lambda size: [f"googlenet report at {size}"])
    # Slide 11: 28 * 28 * 5 * 5 * 192 * 32 multiply-adds for the 5x5 convolution alone.
    assert any(f"{28 * 28 * 5 * 5 * 192 * 32:,}" in line for line in report.cost_report("slide11"))
    assert report.cost_report("slidenet", image_size=28) == ["slidenet report"]
    assert report.cost_report("googlenet", image_size=256) == ["googlenet report at 256"]
    with pytest.raises(ValueError, match=r"slide11 counts slide 11's fixed 28x28x192 example; image_size "
                                         r"\(--image-size\) applies to a model\. Received: image_size=64"):
        report.cost_report("slide11", image_size=64)
    with pytest.raises(ValueError, match=r"model must be one of \('slide11', 'googlenet', 'slidenet'\)\. "
                                         r"Received: model='alexnet'"):
        report.cost_report("alexnet")


def expected_rows(image_size):
    """(row, output shape, params, multiply-adds) of Table 1's layout at `image_size`, by hand."""
    s2, s4, s8, s16, s32 = (image_size // f for f in (2, 4, 8, 16, 32))
    rows = [("conv1", (s2, s2, 64), conv_params(7, 3, 64), s2 * s2 * 49 * 3 * 64),
            ("max pool", (s4, s4, 64), 0, 0), ("LRN", (s4, s4, 64), 0, 0),
            ("conv2", (s4, s4, 192), conv_params(1, 64, 64) + conv_params(3, 64, 192),
             s4 * s4 * (64 * 64 + 9 * 64 * 192)),
            ("LRN", (s4, s4, 192), 0, 0), ("max pool", (s8, s8, 192), 0, 0)]
    channels = 192
    for name, f1, r3, f3, r5, f5, pp in TABLE_1:
        size = {"3": s8, "4": s16, "5": s32}[name[0]]
        if name in ("4a", "5a"):
            rows.append(("max pool", (size, size, channels), 0, 0))
        params = (conv_params(1, channels, f1) + conv_params(1, channels, r3) + conv_params(3, r3, f3)
                  + conv_params(1, channels, r5) + conv_params(5, r5, f5) + conv_params(1, channels, pp))
        mult_adds = module_mult_adds(size, channels, f1, r3, f3, r5, f5, pp)
        channels = f1 + f3 + f5 + pp
        rows.append((f"inception ({name})", (size, size, channels), params, mult_adds))
    rows += [("avg pool", (1024,), 0, 0), ("dropout (40%)", (1024,), 0, 0),
             ("linear", (1000,), conv_params(1, 1024, 1000), 1024 * 1000), ("softmax", (1000,), 0, 0)]
    return rows


def report_rows(lines):
    """The table's rows of `googlenet_report`'s lines, cut at its fixed column widths."""
    rule = [i for i, line in enumerate(lines) if set(line) == {"-"}]
    assert len(rule) == 2, lines
    return [[line[a:b].strip() for a, b in COLUMNS] for line in lines[rule[0] + 1:rule[1]]]


def printed_key(row):
    return row[len("inception ("):-1] if row.startswith("inception") else row


def test_paper_columns_are_table_1_as_printed():
    by_row = {printed_key(row): value for row, value in report.PAPER_TABLE_1.items()}
    assert by_row == {key: (PRINTED_PARAMS_K[key], PRINTED_OPS_M[key]) for key in PRINTED_OPS_M}


@pytest.mark.parametrize("image_size", [224, 256])
def test_report_rows_are_exact_counts_of_table_1(image_size):
    lines = report.googlenet_report(image_size)
    assert lines[0] == f"GoogLeNet at {image_size}x{image_size}x3 (Szegedy et al. 2014, Table 1)"
    rows = report_rows(lines)
    expected = expected_rows(image_size)
    assert [row[0] for row in rows] == [row for row, *_ in expected]
    for (row, output, params, mult_adds, paper_k, paper_m, ratio, mark), (_, shape, want_params, want_ops) in zip(
            rows, expected):
        assert output == "x".join(map(str, shape)), row
        assert (params, mult_adds) == (f"{want_params:,}", f"{want_ops:,}"), row
        printed = printed_key(row)
        assert paper_k == (f"{PRINTED_PARAMS_K[printed]}K" if printed in PRINTED_PARAMS_K else ""), row
        assert paper_m == (f"{PRINTED_OPS_M[printed]}M" if printed in PRINTED_OPS_M else ""), row
        if image_size == 224 and printed in PRINTED_OPS_M:
            assert ratio == f"{want_ops / 1e6 / PRINTED_OPS_M[printed]:.3f}", row
            assert mark == ("*" if printed in ("conv1", "5a") else ""), row
        else:  # the printed ops are for 224x224 inputs: nothing to compare at another size
            assert (ratio, mark) == ("", ""), row
    total_params = sum(params for *_, params, _ in expected)
    total_ops = sum(ops for *_, ops in expected)
    total_line = next(line for line in lines if line.startswith("total"))
    assert total_line.split() == ["total", f"{total_params:,}", f"{total_ops:,}", f"({total_ops / 1e9:.3f}",
                                  "G", "multiply-adds)"]
    assert ("rows marked *" in "\n".join(lines)) == (image_size == 224)  # the notes explain 224's marks only


def test_default_googlenet_report_is_at_224(monkeypatch):
    monkeypatch.setattr(report, "googlenet_report", lambda size: [f"googlenet report at {size}"])
    assert report.model_cost_report("googlenet") == ["googlenet report at 224"]
    assert report.cost_report("googlenet") == ["googlenet report at 224"]


@pytest.mark.parametrize("millions, printed, matches", [
    (101.0, 100, True),     # 1% above
    (99.0, 100, True),      # 1% below
    (101.2, 100, False),    # beyond 1%, rounds to 101
    (1.024, 1, True),       # beyond 1%, rounds to the printed 1
    (1.6, 1, False),        # rounds to 2
    (53.4, 54, False),      # 1.1% below, rounds to 53
])
def test_ops_match_paper_within_one_percent_or_by_rounding(millions, printed, matches):
    assert report.ops_match_paper(millions * 1e6, printed) is matches


def test_slidenet_takes_only_its_own_28x28_input(monkeypatch):
    monkeypatch.setattr(report, "slidenet_report", lambda: ["slidenet report"])
    assert report.model_cost_report("slidenet") == ["slidenet report"]
    assert report.model_cost_report("slidenet", image_size=28) == ["slidenet report"]
    with pytest.raises(ValueError, match=r"SlideNet takes 28x28 inputs\. Received: --image-size=32"):
        report.model_cost_report("slidenet", image_size=32)


def test_table_rows_name_the_layers_they_sum(table):
    assert [set(entry) for entry in table] == [
        {"row", "layers", "output_shape", "params", "mult_adds", "paper_params_k", "paper_ops_m"}] * len(table)
    layers = {entry["row"]: entry["layers"] for entry in table}
    assert layers["conv2"] == ("conv2_reduce", "conv2")  # Table 1 lists conv2 with its 1x1 reduction
    assert layers["inception (4e)"] == ("inception_4e",) and layers["linear"] == ("logits",)


def test_conv1_as_a_separable_conv_counts_exactly():
    depthwise, pointwise = 7 * 7 * 3 * 8, 24 * 64  # 7x7 depthwise x8 over 3 channels, then 1x1 to 64
    assert report._conv1_as_separable() == (depthwise + pointwise, 112 * 112 * (depthwise + pointwise))


def test_notes_state_the_arithmetic_they_rest_on():
    lines = report.googlenet_report()
    notes = lines[lines.index("") + 1:]
    separable = 7 * 7 * 3 * 8 + 24 * 64
    inception_5a = module_mult_adds(7, 832, 256, 160, 320, 32, 128, 128)
    conv2_weights = 64 * 64 + 9 * 64 * 192
    inception_4c = 512 * 128 + 512 * 128 + 9 * 128 * 256 + 512 * 24 + 25 * 24 * 64 + 512 * 64
    assert notes == [
        "Every ops entry agrees with ours (within 1%, or rounding to the printed whole",
        "million) except the rows marked *, where the paper is inconsistent with itself:",
        f"  conv1: a dense 7x7/2 conv from 3 to 64 channels has {7 * 7 * 3 * 64:,} weights and costs",
        f"    {112 * 112 * 49 * 3 * 64 / 1e6:.1f}M; the printed 2.7K/34M fit a depthwise-separable conv instead",
        f"    (7x7 depthwise x8 + 1x1 to 64: {separable:,} weights, {112 * 112 * separable / 1e6:.1f}M).",
        f"  inception (5a): the same filters as 4e on a 7x7 map cost {inception_5a / 1e6:.1f}M; no reading of",
        "    the row's numbers gives the printed 54M.",
        "The paper's params column counts weights without biases in K = 1024 in some rows",
        f"(conv2 112K = {conv2_weights:,} weights, linear 1000K = {1024 * 1000:,}) and fits no single",
        f"rule in others (4c 463K against {inception_4c:,} weights); ours are exact counts,",
        "biases included.",
    ]


def test_a_row_that_disagrees_with_the_paper_unexplained_is_marked(monkeypatch):
    monkeypatch.setitem(report.PAPER_TABLE_1, "inception (3a)", (159, 140))  # 128.0M against a printed 140M
    rows = {row[0]: row for row in report_rows(report.googlenet_report())}
    ratio = module_mult_adds(28, 192, 64, 96, 128, 16, 32, 32) / 1e6 / 140
    assert (rows["inception (3a)"][6], rows["inception (3a)"][7]) == (f"{ratio:.3f}", "!")
    assert rows["conv1"][7] == "*" and rows["inception (3b)"][7] == ""
