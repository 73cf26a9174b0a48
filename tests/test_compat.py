"""Calls written against spyx 1.0 that run unchanged: batch-major `run`, the
`StatefulLayer` protocol and a neuron's `spike` attribute, in both APIs."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.axn
import spyx.nn as snn
import spyx_eqx

from .helpers import NEURON_IDS, NEURONS, spiking_input


def _model():
    rngs = nnx.Rngs(0)
    return snn.Sequential(
        nnx.Linear(4, 6, rngs=rngs),
        snn.LIF((6,), rngs=rngs),
        snn.ActivityRegularization((6,)),
        nnx.Linear(6, 3, rngs=rngs),
        snn.LI((3,)),
    )


@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_batch_major_run_equals_transposing(api):
    model = _model() if api == "nnx" else spyx_eqx.from_nnx(_model())
    run = snn.run if api == "nnx" else spyx_eqx.run
    x = spiking_input(0, (5, 12, 4), scale=3.0)  # [Batch, Time, features]
    state = model.initial_state(5)
    outs, final = run(model, x, batch_major=True)
    ref, ref_final = run(model, jnp.swapaxes(x, 0, 1), state)
    assert outs.shape == (5, 12, 3)
    np.testing.assert_array_equal(outs, jnp.swapaxes(ref, 0, 1))
    for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(ref_final), strict=True):
        assert a.shape == b.shape and a.shape[0] == 5
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"batch_major=True, `x` must have shape"):
        run(model, jnp.ones(4), batch_major=True)


@pytest.mark.parametrize("neuron", NEURONS, ids=NEURON_IDS)
def test_every_neuron_is_a_stateful_layer(neuron):
    layer = neuron.make((3,))
    assert isinstance(layer, snn.StatefulLayer)
    assert isinstance(spyx_eqx.from_nnx(layer), spyx_eqx.StatefulLayer)


def test_stateful_layer_positive_and_negative_cases():
    model = _model()
    assert isinstance(model, snn.StatefulLayer)
    assert isinstance(snn.ActivityRegularization((3,)), snn.StatefulLayer)
    assert isinstance(spyx_eqx.from_nnx(model), spyx_eqx.StatefulLayer)
    for stateless in (
        nnx.Linear(2, 2, rngs=nnx.Rngs(0)),
        snn.Flatten(),
        eqx.nn.Linear(2, 2, key=jax.random.key(0)),
        spyx_eqx.Flatten(),
        jax.nn.relu,
    ):
        assert not isinstance(stateless, snn.StatefulLayer)
        assert not isinstance(stateless, spyx_eqx.StatefulLayer)


@pytest.mark.parametrize("neuron", NEURONS, ids=NEURON_IDS)
def test_spiking_neurons_expose_their_spike_function(neuron):
    given = {"activation": spyx.axn.triangular()} if neuron.spiking else {}
    for layer in (
        neuron.make((2,), **given),
        spyx_eqx.from_nnx(neuron.make((2,), **given)),
    ):
        assert not hasattr(layer, "activation")  # one name: spyx 1.0's `spike`
        if not neuron.spiking:
            assert not hasattr(layer, "spike")
            continue
        assert layer.spike == given["activation"]
        np.testing.assert_array_equal(layer.spike(jnp.array([-0.5, 0.5])), [0, 1])


@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_associative_lif_is_psu_lif_under_spyx_1_name(api):
    """`AssociativeLIF` (spyx 1.0's alias of PSU_LIF, also in
    spyx.experimental) with snnTorch's `StateLeaky` beta converted: its
    membrane is StateLeaky's, the input convolved with exp(-t / tau),
    tau = 1 / (1 - beta_snn)."""
    import spyx.experimental

    assert spyx.experimental.AssociativeLIF is snn.AssociativeLIF
    cls = snn.AssociativeLIF if api == "nnx" else spyx_eqx.AssociativeLIF
    beta_snn = 0.8
    beta = cls.beta_from_snntorch(beta_snn)
    np.testing.assert_allclose(beta, np.exp(-0.2), rtol=1e-6)
    np.testing.assert_allclose(cls.snntorch_beta_from_beta(beta), beta_snn, rtol=1e-6)
    x = np.random.default_rng(0).uniform(0, 0.5, (30, 2, 3)).astype(np.float32)
    tau = 1 / (1 - beta_snn)
    kernel = np.exp(-np.arange(30) / tau)
    want = np.stack(
        [np.tensordot(kernel[: t + 1][::-1], x[: t + 1], 1) for t in range(30)]
    )
    layer = cls((3,), beta=float(beta), threshold=0.6)
    run = snn.run if api == "nnx" else spyx_eqx.run
    spikes, V = run(layer, jnp.asarray(x))
    np.testing.assert_allclose(V, want[-1], rtol=1e-5)
    np.testing.assert_array_equal(spikes, (want > 0.6).astype(np.float32))
    other = spyx_eqx.from_nnx(layer) if api == "nnx" else spyx_eqx.to_nnx(layer)
    assert type(other).__name__ == "AssociativeLIF"
