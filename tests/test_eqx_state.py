"""Equinox's own state mechanism: every stateful spyx_eqx layer is an
`eqx.nn.StatefulLayer` and works with `eqx.nn.State`, in `eqx.nn.Sequential`
next to `eqx.nn.BatchNorm`, stepped by `jax.lax.scan` or by `spyx_eqx.run`,
with the outputs of the array-state call."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn
import spyx_eqx as se

from .helpers import NEURON_IDS, NEURONS, spiking_input

T, F, H = 12, 5, 6


def _layers(neuron, key=0):
    k1, k2 = jax.random.split(jax.random.key(key))
    return [
        eqx.nn.Linear(F, H, key=k1),
        se.from_nnx(neuron.make((H,))),
        se.ActivityRegularization((H,)),
        eqx.nn.Linear(H, 3, key=k2),
        se.LI((3,)),
    ]


@pytest.mark.parametrize(
    "neuron",
    [
        pytest.param(n, marks=() if n.name in ("LIF", "RCuBaLIF") else pytest.mark.slow)
        for n in NEURONS
    ],
    ids=NEURON_IDS,
)
def test_eqx_sequential_with_state_equals_run(neuron):
    """`eqx.nn.make_with_state(eqx.nn.Sequential)` of spyx layers, stepped by
    `jax.lax.scan` over one example, gives `spyx_eqx.run`'s outputs and
    final states."""
    layers = _layers(neuron)
    model, state = eqx.nn.make_with_state(eqx.nn.Sequential)(layers)
    assert all(isinstance(layers[i], eqx.nn.StatefulLayer) for i in (1, 2, 4))
    x = spiking_input(0, (T, F), scale=2.0)

    def step(state, x_t):
        out, state = model(x_t, state)
        return state, out

    final, outs = jax.lax.scan(step, state, x)
    ref, ref_state = se.run(se.Sequential(layers), x)
    np.testing.assert_allclose(outs, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        final.get(model[1].state_index), ref_state[1], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        final.get(model[2].state_index), ref_state[2], rtol=1e-5, atol=1e-6
    )
    # spyx_eqx.run takes the eqx.nn.State too (stepped through time)
    outs2, final2 = se.run(model, x, state)
    np.testing.assert_allclose(outs2, ref, rtol=1e-5, atol=1e-6)
    assert isinstance(final2, eqx.nn.State)


def test_batchnorm_in_the_middle_under_vmap_with_an_axis_name():
    """Equinox's stateful idiom: a BatchNorm between spiking layers, the model
    vmapped over the batch with `axis_name` (the neuron states are per
    example, so the whole state is batched), gradients through it."""
    k = jax.random.split(jax.random.key(0), 3)
    model, state = eqx.nn.make_with_state(eqx.nn.Sequential)(
        [
            eqx.nn.Linear(F, H, key=k[0]),
            eqx.nn.BatchNorm(H, axis_name="batch", mode="ema"),
            se.LIF((H,), beta=0.9),
            eqx.nn.Linear(H, 3, key=k[1]),
            se.LI((3,)),
        ]
    )
    B = 4
    state = jax.tree.map(lambda a: jnp.broadcast_to(a, (B, *a.shape)), state)
    xs = spiking_input(1, (T, B, F), scale=2.0)
    batched = jax.vmap(model, axis_name="batch", in_axes=(0, 0), out_axes=(0, 0))

    def step(state, x_t):
        out, state = batched(x_t, state)
        return state, out

    final, outs = jax.lax.scan(step, state, xs)
    assert outs.shape == (T, B, 3) and bool(jnp.all(jnp.isfinite(outs)))
    assert isinstance(final, eqx.nn.State)

    # the batch statistics are taken across the batch (axis "batch"): the
    # normalised layer output averages to zero over the examples
    hidden = jax.vmap(
        lambda x, s: model[1](model[0](x), s), axis_name="batch", in_axes=(0, 0)
    )(xs[0], state)[0]
    np.testing.assert_allclose(hidden.mean(0), 0.0, atol=1e-5)


def test_gradients_with_state_equal_the_array_state_gradients():
    """Training through `eqx.nn.State`: the gradients of a loss over a
    scanned sequence equal those of `spyx_eqx.run` with array states."""
    layers = _layers(NEURONS[1])  # LIF
    model, state = eqx.nn.make_with_state(eqx.nn.Sequential)(layers)
    x = spiking_input(3, (T, F), scale=2.0)

    def loss_state(model):
        outs, _ = se.run(model, x, state)
        return jnp.sum(outs**2)

    def loss_array(model):
        outs, _ = se.run(model, x)
        return jnp.sum(outs**2)

    got = eqx.filter_grad(loss_state)(model)
    want = eqx.filter_grad(loss_array)(se.Sequential(layers))
    pairs = [(got[i].weight, want[i].weight) for i in (0, 3)] + [
        (got[1].beta, want[1].beta),
        (got[4].beta, want[4].beta),
    ]
    for a, b in pairs:
        assert float(jnp.abs(b).sum()) > 0
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_state_save_restore_and_from_nnx(tmp_path):
    """A model converted from NNX works with `eqx.nn.State`; the state
    round-trips through `eqx.tree_serialise_leaves`."""
    rngs = nnx.Rngs(0)
    nnx_model = snn.Sequential(
        nnx.Linear(F, H, rngs=rngs), snn.RLIF((H,), rngs=rngs), snn.LI((H,))
    )
    twin = se.from_nnx(nnx_model)
    model, state = eqx.nn.make_with_state(lambda: twin)()
    x = spiking_input(2, (T, F), scale=2.0)
    outs, state = se.run(model, x, state)
    ref, _ = snn.run(nnx_model, x[:, None])
    np.testing.assert_allclose(outs, ref[:, 0], rtol=1e-5, atol=1e-6)
    eqx.tree_serialise_leaves(tmp_path / "state.eqx", state)
    _, fresh = eqx.nn.make_with_state(lambda: twin)()
    back = eqx.tree_deserialise_leaves(tmp_path / "state.eqx", fresh)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(state), strict=True):
        np.testing.assert_array_equal(a, b)


def test_array_state_call_is_unchanged_and_keys_are_not_taken():
    layer = se.LIF((H,), beta=0.9)
    out, V = layer(jnp.ones(H), layer.initial_state())
    assert V.shape == (H,)
    from spyx.core import _frontend

    assert not _frontend.takes_key(layer)  # accepted for eqx.nn.Sequential, unused
    with pytest.raises(ValueError, match=r"with an eqx.nn.State .*runs step by step"):
        model, state = eqx.nn.make_with_state(lambda: se.Sequential([layer]))()
        se.run(model, jnp.ones((T, H)), state, layerwise=True)
