"""The `inception-tf` command: what it prints, and its one-line refusals (run in process)."""

import pytest


def test_costs_prints_slide_11(run_cli):
    result = run_cli("costs")
    assert result.returncode == 0, result.stderr
    assert "120,422,400" in result.stdout
    assert "2,408,448 + 10,035,200 = 12,443,648" in result.stdout
    assert "9.7x fewer" in result.stdout


@pytest.mark.slow
def test_costs_googlenet_table(run_cli):
    result = run_cli("costs", "--model", "googlenet")
    assert result.returncode == 0, result.stderr
    assert "inception (4e)" in result.stdout and "169,996,288" in result.stdout
    assert "1.583 G multiply-adds" in result.stdout


def test_bad_flag_value_is_one_line_and_nonzero(run_cli):
    result = run_cli("costs", "--model", "alexnet")
    assert result.returncode == 2
    assert "invalid choice: 'alexnet'" in result.stderr


def test_bad_image_size_for_slidenet(run_cli):
    result = run_cli("costs", "--model", "slidenet", "--image-size", "64")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "inception-tf costs: error: SlideNet takes 28x28 inputs. Received: --image-size=64"
    )
