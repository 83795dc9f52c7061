"""The Table 1 comparison printed by `inception-tf costs --model googlenet`."""

import pytest

from inception_tf.models import report
from tests.models.test_googlenet import TABLE_1


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


def test_slidenet_report_totals():
    lines = report.slidenet_report()
    assert lines[-1].split()[1] == "140,573,758"


def test_unknown_model():
    with pytest.raises(ValueError, match="model must be"):
        report.model_cost_report("alexnet")


def test_cost_report_names_slide_11_or_a_model_and_refuses_the_rest():
    # Slide 11: 28 * 28 * 5 * 5 * 192 * 32 multiply-adds for the 5x5 convolution alone.
    assert any(f"{28 * 28 * 5 * 5 * 192 * 32:,}" in line for line in report.cost_report("slide11"))
    assert report.cost_report("slidenet") == report.model_cost_report("slidenet")
    with pytest.raises(ValueError, match=r"slide11 counts slide 11's fixed 28x28x192 example; image_size "
                                         r"\(--image-size\) applies to a model\. Received: image_size=64"):
        report.cost_report("slide11", image_size=64)
    with pytest.raises(ValueError, match=r"model must be one of \('slide11', 'googlenet', 'slidenet'\)\. "
                                         r"Received: model='alexnet'"):
        report.cost_report("alexnet")
