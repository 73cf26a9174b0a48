"""Spike timing: every neuron with a choice (`output_from_state`) spiking
after the update (`spikes_after_update=True`, NIR's and snnTorch's timing),
against values worked out by hand, the NumPy reference, the dual-number
gradient reference, the other API, layer-wise execution, conversions and
checkpoints. The default timing runs through every other matrix."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn
import spyx_eqx
from spyx import core

from .equivalence import cases, check_agreement
from .helpers import NEURONS, TIMING_IDS, TIMING_VARIANTS, Neuron
from .test_gradients import check_gradient
from .test_layerwise import check_layerwise
from .test_resets import check_numpy_reference

KERNEL_KINDS = ("LIF", "ALIF", "RCuBaLIF")


def test_every_neuron_with_a_choice_has_the_setting():
    """Exactly the neurons whose output comes from their state choose; the
    others refuse the setting by name."""
    chooses = {n.spec.name for n in TIMING_VARIANTS}
    assert chooses == {n.spec.name for n in NEURONS if n.spiking and not n.parallel}
    with pytest.raises(TypeError, match="spikes_after_update"):
        core.PSU_LIF.build(
            "PSU_LIF",
            shape=(2,),
            decays={"beta": 0.5},
            keys=None,
            threshold=1.0,
            spikes_after_update=True,
        )
    with pytest.raises(TypeError, match="True or False"):
        snn.LIF((2,), beta=0.5, spikes_after_update=1)


@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_hand_computed_lif_spikes_after_the_update(api):
    """beta = 0.5, threshold 1, x = 0.6, 0.8, 0.3, 0.0: the update of step 1
    takes the membrane to 1.1; spiking after the update, the spike comes at
    that step, one step before the default timing gives it. The membrane
    is the same in both timings."""
    xs = [[0.6], [0.8], [0.3], [0.0]]
    # V after each update: 0.6; 0.3 + 0.8 = 1.1; 0.55 + 0.3 - 1 = -0.15;
    # -0.075 + 0.0 = -0.075
    states = [[0.6], [1.1], [-0.15], [-0.075]]
    after = [[0.0], [1.0], [0.0], [0.0]]  # H(V' - 1)
    before = [[0.0], [0.0], [1.0], [0.0]]  # H(V - 1), V before the update
    cls = snn.LIF if api == "nnx" else spyx_eqx.LIF
    for timing, want in ((True, after), (False, before)):
        layer = cls((1,), beta=0.5, spikes_after_update=timing)
        V = layer.initial_state(1)
        for x, out, state in zip(xs, want, states, strict=True):
            o, V = layer(jnp.asarray([x], jnp.float32), V)
            np.testing.assert_allclose(o[0], out, atol=1e-6)
            np.testing.assert_allclose(V[0], state, atol=1e-6)


@pytest.mark.parametrize("neuron", TIMING_VARIANTS, ids=TIMING_IDS)
def test_matches_numpy_reference(neuron):
    assert neuron.make().spikes_after_update
    check_numpy_reference(neuron)


@pytest.mark.parametrize(
    "neuron",
    [
        pytest.param(
            n, id=n.name, marks=() if n.spec.name == "LIF" else pytest.mark.slow
        )
        for n in TIMING_VARIANTS
    ],
)
def test_gradient_equals_the_chain_rule_reference(neuron):
    check_gradient(neuron)


@pytest.mark.parametrize(
    ("neuron", "model", "mode", "transform", "twin"),
    list(
        cases(
            TIMING_VARIANTS,
            models=("dense",),
            default=lambda neuron, model, mode, transform, twin: (
                neuron.spec.name in KERNEL_KINDS
                and (mode, transform, twin) == ("run", "jit", "explicit")
            ),
        )
    ),
)
def test_nnx_and_equinox_agree(neuron, model, mode, transform, twin):
    check_agreement(neuron, model, mode, transform, twin)


def _kernel_case(n: Neuron, api: str) -> object:
    """Every variant in the slow run; LIF through spyx.nn and ALIF (a
    two-part kernel) through spyx_eqx by default."""
    quick = (n.spec.name, api) in {("LIF", "nnx"), ("ALIF", "eqx")}
    slow = () if quick else pytest.mark.slow
    return pytest.param(n, api, id=f"{api}-{n.name}", marks=slow)


@pytest.mark.parametrize(
    ("neuron", "api"),
    [_kernel_case(n, api) for api in ("nnx", "eqx") for n in TIMING_VARIANTS],
)
def test_layerwise_equals_stepwise(neuron, api):
    """The sequence kernels give the after-update spikes (one shift) with
    the same outputs, state and gradients as stepping."""
    check_layerwise(neuron, "layerwise", api, spikes_after_update=True)


def test_conversions_and_checkpoints_keep_the_timing(tmp_path):
    import spyx.checkpoint

    layer = snn.RLIF((3,), spikes_after_update=True, rngs=nnx.Rngs(0))
    twin = spyx_eqx.from_nnx(layer)
    assert twin.spikes_after_update and spyx_eqx.to_nnx(twin).spikes_after_update
    spyx.checkpoint.save(tmp_path / "ckpt", layer)
    with pytest.raises(ValueError, match=r"spikes_after_update=True\) in the file"):
        spyx.checkpoint.restore(tmp_path / "ckpt", snn.RLIF((3,), rngs=nnx.Rngs(0)))
    spyx_eqx.save(tmp_path / "m.eqx", twin)
    with pytest.raises(ValueError, match=r"spikes_after_update=True\) in the file"):
        spyx_eqx.restore(
            tmp_path / "m.eqx", spyx_eqx.from_nnx(snn.RLIF((3,), rngs=nnx.Rngs(0)))
        )
