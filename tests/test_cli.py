"""The `inception-tf` command, run as a real process."""

import subprocess
import sys

import pytest


def run_cli(*args, check=False):
    result = subprocess.run(
        [sys.executable, "-m", "inception_tf.cli", *args],
        capture_output=True, text=True, timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_costs_prints_slide_11():
    out = run_cli("costs", check=True).stdout
    assert "120,422,400" in out
    assert "2,408,448 + 10,035,200 = 12,443,648" in out
    assert "9.7x fewer" in out


@pytest.mark.slow
def test_costs_googlenet_table():
    out = run_cli("costs", "--model", "googlenet", check=True).stdout
    assert "inception (4e)" in out and "169,996,288" in out
    assert "1.583 G multiply-adds" in out


def test_bad_flag_value_is_one_line_and_nonzero():
    result = run_cli("costs", "--model", "alexnet")
    assert result.returncode == 2
    assert "invalid choice: 'alexnet'" in result.stderr


def test_bad_image_size_for_slidenet():
    result = run_cli("costs", "--model", "slidenet", "--image-size", "64")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "inception-tf costs: error: SlideNet takes 28x28 inputs. Received: --image-size=64"
    )
