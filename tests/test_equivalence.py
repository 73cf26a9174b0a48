"""The contract between the two APIs: every NNX model and its Equinox twin
agree to 1e-6 relative in float32.

Matrix: model (each neuron alone; `Sequential` models mixing each neuron with
Linear layers; a `Graph` with feedback onto each neuron and a skip; Conv
models) x mode (one step, `run`, `parallel` where it
exists) x transform (eager, jit, vmap over the batch) x twin (built by
`from_nnx`, or independently from the same explicit parameters); each case
checks the outputs, the final state, and the gradients w.r.t. the input and
every parameter. The machinery lives in `equivalence.py`; the default run checks
the part `in_default_run` names and the rest is marked slow.
"""

import inspect

import pytest

import spyx.nn as snn
import spyx_eqx
from spyx import core

from .equivalence import cases, check_agreement
from .helpers import NEURON_IDS, NEURONS, NON_RECURRENT, one_of_each_kind


def _neuron_names(module, base):
    return {
        name
        for name, obj in vars(module).items()
        if inspect.isclass(obj) and issubclass(obj, base) and obj is not base
    }


def test_both_apis_have_the_same_neurons_and_the_registry_covers_them():
    nnx_names = _neuron_names(snn, snn.Neuron)
    eqx_names = _neuron_names(spyx_eqx, spyx_eqx.Neuron) - {"SpikingNeuron"}
    assert nnx_names == eqx_names
    # every class with a table row of its own is in the registry; the others
    # are aliases of one (AssociativeLIF is PSU_LIF under 1.0's name)
    own = {n for n in nnx_names if "spec" in vars(getattr(snn, n))}
    assert own == set(NEURON_IDS)
    for alias in nnx_names - own:
        for api in (snn, spyx_eqx):
            cls = getattr(api, alias)
            assert cls.spec in core.NEURONS and issubclass(cls, api.Neuron)


@pytest.mark.parametrize(
    ("neuron", "model", "mode", "transform", "twin"),
    list(
        cases(
            NEURONS,
            conv_neurons=one_of_each_kind(NON_RECURRENT),
            models=("alone", "dense", "graph"),
        )
    ),
)
def test_nnx_and_equinox_agree(neuron, model, mode, transform, twin):
    check_agreement(neuron, model, mode, transform, twin)
