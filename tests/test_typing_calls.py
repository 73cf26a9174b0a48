"""The calls `typing_calls.py` shows type checkers also run, so the file
stays the documentation's calls (CI checks its types with pyright and mypy)."""

import pytest

from . import typing_calls

# to_nir's notes on what NIR tools read differently (the default spike timing
# and reset of the exported LIF)
NIR_NOTES = "^to_nir: "


# CI type-checks the file (basedpyright, mypy) before the tests; running its
# calls is with the slow checks.
pytestmark = pytest.mark.slow


def test_neurons_run_as_typed():
    typing_calls.nnx_neurons()
    typing_calls.eqx_neurons()


def test_nnx_models_run_as_typed(tmp_path):
    with pytest.warns(UserWarning, match=NIR_NOTES):
        typing_calls.nnx_models(tmp_path)


def test_eqx_models_run_as_typed(tmp_path):
    with pytest.warns(UserWarning, match=NIR_NOTES):
        typing_calls.eqx_models(tmp_path)
