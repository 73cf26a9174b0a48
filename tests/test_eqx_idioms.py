"""spyx_eqx used the way Equinox users write models: list-built Sequential,
indexing and slicing, keys for Dropout, channels-first convolutions, batched
runs without a state, the threshold as a leaf."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn
import spyx_eqx as se

from .helpers import NEURONS, spiking_input

K = jax.random.split(jax.random.key(0), 4)


def _dropout_model(p=0.5):
    return se.Sequential(
        [
            eqx.nn.Linear(6, 8, key=K[0]),
            eqx.nn.Dropout(p),
            se.LIF((8,), beta=0.9),
            eqx.nn.Linear(8, 3, key=K[1]),
            se.LI((3,), beta=0.8),
        ]
    )


def test_sequential_list_form_indexing_and_slicing():
    a, b, c = eqx.nn.Linear(4, 5, key=K[0]), se.LIF((5,), beta=0.9), jax.nn.relu
    listed, spread = se.Sequential([a, b, c]), se.Sequential(a, b, c)
    assert listed.layers == spread.layers
    assert len(listed) == 3 and listed[0] is a and listed[1] is b
    assert list(listed) == [a, b, c]
    head = listed[:2]
    assert isinstance(head, se.Sequential) and head.layers == (a, b)
    x = jnp.ones((7, 4))
    out, _ = se.run(head, x)
    ref, _ = se.run(se.Sequential(a, b), x)
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(TypeError, match=r"Sequential: layer 1 is not callable"):
        se.Sequential([a, 3])


def test_dropout_gets_a_key_per_step_layer_and_example():
    model = _dropout_model()
    x = jnp.ones((5, 6))
    a, _ = se.run(model, x, key=jax.random.key(1))
    b, _ = se.run(model, x, key=jax.random.key(1))
    c, _ = se.run(model, x, key=jax.random.key(2))
    np.testing.assert_array_equal(a, b)  # same key, same masks
    assert not np.array_equal(a, c)
    # without dropout in the loop, the key changes nothing
    calm = eqx.nn.inference_mode(model)
    d, _ = se.run(calm, x, key=jax.random.key(1))
    e, _ = se.run(calm, x)
    np.testing.assert_array_equal(d, e)
    # Dropout in training mode without a key is Equinox's own error
    with pytest.raises(RuntimeError, match="key"):
        se.run(model, x)


@pytest.mark.parametrize("checkpoint", [None, pytest.param(2, marks=pytest.mark.slow)])
def test_keys_layerwise_equal_stepwise_and_batched_examples_differ(checkpoint):
    model = _dropout_model()
    x = jnp.ones((6, 3, 6))  # [T, B, F]: one example's row repeated
    key = jax.random.key(3)
    lw, lw_state = se.run(model, x, key=key)
    sw, sw_state = se.run(model, x, key=key, layerwise=False, checkpoint=checkpoint)
    np.testing.assert_allclose(lw, sw, rtol=1e-6, atol=1e-6)
    for s1, s2 in zip(lw_state, sw_state, strict=True):
        if s1 is not None:
            np.testing.assert_allclose(s1, s2, rtol=1e-6, atol=1e-6)
    # identical examples, different dropout masks
    assert not np.array_equal(lw[:, 0], lw[:, 1])


@pytest.mark.slow  # the default run keeps it under 5 minutes
def test_dropout_model_trains_with_filter_jit_and_a_key():
    import optax

    model = _dropout_model(0.2)
    x = spiking_input(0, (10, 4, 6))
    y = jnp.array([0, 1, 2, 0])
    opt = optax.adam(1e-2)
    state = opt.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def step(model, state, key):
        def loss(m):
            out, _ = se.run(m, x, key=key)
            logits = out.sum(0)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        value, grads = eqx.filter_value_and_grad(loss)(model)
        updates, state = opt.update(grads, state, eqx.filter(model, eqx.is_array))
        return eqx.apply_updates(model, updates), state, value, grads

    keys = jax.random.split(jax.random.key(0), 3)
    for k in keys:
        model, state, value, grads = step(model, state, k)
    assert np.isfinite(value)
    # the threshold is a float hyperparameter: no gradient, never moved
    assert grads[2].threshold is None
    assert model[2].threshold == 1.0


def test_channels_first_conv_model_with_sumpool():
    conv = eqx.nn.Conv2d(2, 4, 3, padding=1, key=K[0])
    model = se.Sequential(
        [
            conv,
            se.LIF((4, 8, 8), beta=0.9),  # (C, H, W) after eqx.nn.Conv2d
            se.SumPool(2),  # channels first by default
            se.Flatten(),
            eqx.nn.Linear(4 * 4 * 4, 3, key=K[1]),
            se.LI((3,)),
        ]
    )
    x = spiking_input(1, (5, 2, 8, 8))
    out, _ = se.run(model, x)
    assert out.shape == (5, 3)
    # the pool summed 2x2 windows of each channel, not across channels
    spikes, _ = se.run(model[:2], x)
    pooled = jax.vmap(model[2])(spikes)
    assert pooled.shape == (5, 4, 4, 4)
    np.testing.assert_allclose(
        pooled[:, 1, 0, 0], spikes[:, 1, :2, :2].sum((-1, -2)), rtol=1e-6
    )
    assert se.sum_pool(jnp.ones((3, 8, 8)), 2).shape == (3, 4, 4)
    # to_nnx refuses the channels-first layout instead of converting silently
    with pytest.raises(ValueError, match=r"to_nnx: .*channels first.*ChannelsLast"):
        se.to_nnx(model)


@pytest.mark.slow  # the default run keeps it under 5 minutes
def test_channels_last_models_convert_both_ways():
    nnx_model = snn.Sequential(
        nnx.Conv(2, 3, (3, 3), rngs=nnx.Rngs(0)),
        snn.IF((6, 6, 3)),
        snn.SumPool(2),
        snn.Flatten(),
    )
    twin = se.from_nnx(nnx_model)
    assert isinstance(twin[0], se.ChannelsLast) and twin[2].channel_axis == -1
    x = spiking_input(2, (4, 2, 6, 6, 2))
    ref, _ = snn.run(nnx_model, x)
    out, _ = se.run(twin, x)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    back = se.to_nnx(twin)
    np.testing.assert_allclose(snn.run(back, x)[0], ref, rtol=1e-5, atol=1e-5)


def test_batched_run_without_state_infers_the_batch():
    model = se.Sequential([eqx.nn.Linear(6, 4, key=K[0]), se.LIF((4,), beta=0.9)])
    x = spiking_input(3, (7, 3, 6))
    out, final = se.run(model, x)
    assert out.shape == (7, 3, 4) and final[1].shape == (3, 4)
    vmapped, _ = jax.vmap(lambda s: se.run(model, s), in_axes=1, out_axes=(1, 0))(x)
    np.testing.assert_allclose(out, vmapped, rtol=1e-6, atol=1e-6)
    neuron_out, _ = se.run(se.LIF((6,), beta=0.9), x)
    assert neuron_out.shape == (7, 3, 6)


@pytest.mark.parametrize("layerwise", [True, False])
def test_batched_input_with_unbatched_state_is_one_clear_error(layerwise):
    model = se.Sequential([eqx.nn.Linear(6, 4, key=K[0]), se.LIF((4,), beta=0.9)])
    x = jnp.ones((7, 3, 6))
    with pytest.raises(ValueError, match=r"has a batch axis.*initial_state\(3\)"):
        se.run(model, x, model.initial_state(), layerwise=layerwise)
    with pytest.raises(ValueError, match=r"has no batch axis.*initial_state\(None\)"):
        se.run(model, x[:, 0], model.initial_state(3), layerwise=layerwise)


def test_wrong_spatial_input_blames_x():
    from jaxtyping import TypeCheckError

    layer = se.CuBaLIF((3, 2, 4), alpha=0.5, beta=0.5)
    blame_x = r"parameter 'x'\.\nActual value: f32\[5,2,2,4\]\nCuBaLIF: `x` must have"
    with pytest.raises(TypeCheckError, match=blame_x):
        layer(jnp.ones((5, 2, 2, 4)), jnp.zeros((5, 3, 2, 8)))
    with pytest.raises(TypeCheckError, match=r"parameter 'x'.*\n.*f32\[6,2,2,4\]"):
        layer.run_sequence(jnp.ones((6, 2, 2, 4)), jnp.zeros((3, 2, 8)))


@pytest.mark.parametrize(
    "neuron",
    [
        pytest.param(
            n,
            id=n.name,
            marks=() if n.name in ("LIF", "RCuBaLIF", "PSU_LIF") else pytest.mark.slow,
        )
        for n in NEURONS
        if n.spiking
    ],
)
def test_threshold_is_a_float_set_with_tree_at_and_saved(neuron, tmp_path):
    """As Equinox keeps `Dropout.p`: a float field, not an array, so no
    gradient and no optimiser reach it; `eqx.tree_at` replaces it;
    checkpoints record it and refuse another; conversions carry it."""
    layer = neuron.eqx_from((4,), neuron.random_params((4,)))
    assert type(layer.threshold) is float and not eqx.is_array(layer.threshold)
    low = eqx.tree_at(lambda n: n.threshold, layer, 0.25)
    x = jnp.full((6, 4), 0.3)
    assert float(se.run(low, x)[0].sum()) > float(se.run(layer, x)[0].sum())
    se.save(tmp_path / "low.eqx", low)
    assert se.restore(tmp_path / "low.eqx", low).threshold == 0.25
    with pytest.raises(
        ValueError, match=r"threshold=0.25.* in the file.*threshold=1.0.* here"
    ):
        se.restore(tmp_path / "low.eqx", layer)
    grads = eqx.filter_grad(lambda m: se.run(m, x)[0].sum())(layer)
    assert grads.threshold is None
    bad = eqx.tree_at(lambda n: n.threshold, layer, -1.0)  # tree_at checks nothing
    with pytest.raises(ValueError, match=r"`threshold` must be a finite number"):
        se.run(bad, x)  # but the step does
    # the NNX twin carries it both ways, as a plain float
    twin = se.to_nnx(low)
    assert twin.threshold == 0.25 and type(twin.threshold) is float
    assert se.from_nnx(twin).threshold == 0.25


@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_weight_decay_leaves_the_threshold_alone(api):
    """The optimiser idioms of both APIs, with adamw's weight decay, which
    moves every leaf it is given whether or not it has a gradient."""
    import optax

    x = jnp.full((5, 2, 4), 0.5)
    tx = optax.adamw(0.1, weight_decay=0.5)
    if api == "nnx":
        layer = snn.LIF((4,), beta=0.5, threshold=0.8)
        opt = nnx.Optimizer(layer, tx, wrt=nnx.Param)
        grads = nnx.grad(lambda m: snn.run(m, x)[0].sum())(layer)
        opt.update(layer, grads)
        # spyx 1.0's habit: nnx.Param covers a whole model
        graphdef, params = nnx.split(layer, nnx.Param)
        assert set(nnx.to_pure_dict(params)) == {"beta"}
    else:
        layer = se.LIF((4,), beta=0.5, threshold=0.8)
        params = eqx.filter(layer, eqx.is_inexact_array)
        state = tx.init(params)
        grads = eqx.filter_grad(lambda m: se.run(m, x[:, 0])[0].sum())(layer)
        updates, state = tx.update(grads, state, params)
        layer = eqx.apply_updates(layer, updates)
    assert layer.threshold == 0.8


def test_li_takes_hidden_shape_too():
    for api in (snn, se):
        assert api.LI(hidden_shape=(3,)).hidden_shape == (3,)
        assert api.LI((3,)).hidden_shape == (3,)
        with pytest.raises(TypeError, match="LI: give the shape once"):
            api.LI((3,), hidden_shape=(3,))
