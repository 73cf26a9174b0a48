"""The examples run end to end: a tiny smoke run of each by default, the full
accuracy run (the README's first command) marked slow."""

import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .test_data import write_shd

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_is_test_accuracy(acc, out):
    """The returned accuracy is the one printed, a whole number of correct
    answers out of the held-out examples."""
    match = re.search(r"test accuracy: ([0-9.]+) on (\d+) held-out examples", out)
    assert match, out
    printed, n = float(match.group(1)), int(match.group(2))
    assert abs(printed - acc) < 1e-4
    correct = acc * n
    assert abs(correct - round(correct)) < 1e-3 and 0 <= round(correct) <= n


@pytest.mark.slow  # the full runs below are slow too; quickstart runs by default
@pytest.mark.parametrize("name", ["digits_nnx", "digits_eqx"])
def test_digits_example_smoke(name, tmp_path, capsys):
    acc = _load(name).main(
        [
            "--epochs",
            "1",
            "--steps",
            "4",
            "--hidden",
            "16",
            "--max-samples",
            "200",
            "--out",
            str(tmp_path),
        ]
    )
    out = capsys.readouterr().out
    _assert_is_test_accuracy(acc, out)
    assert (tmp_path / f"{name}_raster.png").stat().st_size > 1000
    assert (tmp_path / f"{name}_curves.png").stat().st_size > 1000


def _shd_like(path, n, seed):
    """A file in SHD's layout whose class shows in which units fire: class
    c spikes 40 times in units [200 c, 200 c + 100), at random times, over
    20 spikes of noise anywhere."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    times, units = [], []
    for c in labels:
        times.append(rng.uniform(0, 1.0, 60))
        units.append(
            np.concatenate(
                [rng.integers(200 * c, 200 * c + 100, 40), rng.integers(0, 700, 20)]
            )
        )
    return write_shd(path, times, units, labels)


@pytest.mark.slow  # the loader itself is tested in test_data
@pytest.mark.parametrize("name", ["digits_nnx", "digits_eqx"])
def test_digits_example_learns_from_shd_files(name, tmp_path, capsys):
    """The SHD how-to's command on small files in SHD's layout: it trains on
    one and tests on the other, and learns what tells the classes apart."""
    train = _shd_like(tmp_path / "shd_train.h5", 90, 0)
    test = _shd_like(tmp_path / "shd_test.h5", 30, 1)
    acc = _load(name).main(
        [
            "--shd",
            str(train),
            "--shd-test",
            str(test),
            "--epochs",
            "4",
            "--steps",
            "20",
            "--hidden",
            "32",
            "--batch-size",
            "15",
            "--no-plots",
        ]
    )
    out = capsys.readouterr().out
    _assert_is_test_accuracy(acc, out)
    assert "on 30 held-out examples" in out  # the test file, not a split
    assert acc >= 0.9, out


def test_quickstart_runs():
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    assert "measured 0.495" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits_nnx", "digits_eqx"])
def test_digits_example_reaches_97_percent(name, tmp_path):
    """The README's first command: default settings, held-out 20%."""
    assert _load(name).main(["--out", str(tmp_path)]) >= 0.97


def test_spyx1_style_script_runs_unchanged(capsys):
    """spyx 1.0's calls (batch-major run, shuffler, shift_augment, NIR's 1.0
    forms) train a network and round-trip it through NIR."""
    # the script exports subtractive LIFs in spyx's timing: other tools read
    # a reset to 0 and simulate the spike after the update
    with pytest.warns(UserWarning) as caught:
        acc = _load("spyx1_style").main()
    said = " ".join(str(w.message) for w in caught)
    assert "to_nir: LIF subtracts the threshold" in said
    assert "before the update (spyx's default timing)" in said
    out = capsys.readouterr().out
    assert "imported model agrees: True" in out
    assert acc >= 0.8, out
