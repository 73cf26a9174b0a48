"""spyx_eqx in the Equinox idiom: shape-typed calls, one-example modules,
conversions, training with filter_jit, and serialisation."""

import inspect
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from jaxtyping import TypeCheckError

import spyx.nn as snn
import spyx_eqx as se

from .helpers import NEURON_IDS, NEURONS, spiking_input

H = 4


def test_importing_spyx_eqx_does_not_import_flax():
    code = "import spyx_eqx, sys; assert 'flax' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("neuron", NEURONS, ids=NEURON_IDS)
def test_unbatched_batched_and_vmapped_agree(neuron):
    layer = neuron.eqx_from((H,), neuron.random_params((H,)))
    xs = spiking_input(0, (3, H))
    state = layer.initial_state()
    assert state.shape == layer.state_shape
    batched_out, batched_state = layer(xs, layer.initial_state(3))
    mapped = jax.vmap(layer)(xs, jnp.stack([state] * 3))
    one = [layer(x, state) for x in xs]
    np.testing.assert_array_equal(mapped[0], batched_out)
    np.testing.assert_array_equal(mapped[1], batched_state)
    np.testing.assert_array_equal(jnp.stack([o for o, _ in one]), batched_out)


@pytest.mark.parametrize("neuron", NEURONS, ids=NEURON_IDS)
def test_shape_errors_are_type_check_errors_naming_the_argument(neuron):
    layer = neuron.eqx_from((H,), neuron.random_params((H,)))
    state = layer.initial_state(2)
    state_arg = list(inspect.signature(type(layer).__call__).parameters)[2]
    with pytest.raises(TypeCheckError, match=r"parameter 'x'.*\n.*f32\[2,5\]"):
        layer(jnp.ones((2, 5)), state)
    with pytest.raises(TypeCheckError, match=rf"parameter '{state_arg}'"):
        layer(jnp.ones((3, H)), state)
    with pytest.raises(TypeCheckError, match=r"parameter 'x'.*\n.*i32\[2,4\]"):
        layer(jnp.ones((2, H), jnp.int32), state)


def test_type_checks_cost_nothing_inside_jit():
    layer = se.LIF((H,), beta=0.5)
    f = eqx.filter_jit(lambda m, x, s: m(x, s))
    f(layer, jnp.ones(H), layer.initial_state())
    with pytest.raises(TypeCheckError):
        f(layer, jnp.ones(H), jnp.zeros(H + 1))
    # the compiled function holds no trace of the checks: same jaxpr as core
    from spyx import core

    jaxpr = str(jax.make_jaxpr(lambda x, s: layer(x, s))(jnp.ones(H), jnp.zeros(H)))
    ref = str(
        jax.make_jaxpr(
            lambda x, s: core.lif_step(
                x,
                s,
                beta=layer.beta,
                threshold=jnp.float32(layer.threshold),
                spike=layer.spike,
            )
        )(jnp.ones(H), jnp.zeros(H))
    )
    assert jaxpr == ref


def test_multidimensional_hidden_shape_checked_beyond_last_axis():
    layer = se.CuBaLIF((3, 2, H), alpha=0.5, beta=0.5)
    assert layer.initial_state().shape == (3, 2, 2 * H)
    with pytest.raises(TypeCheckError, match=r"CuBaLIF: `x` must have shape"):
        layer(jnp.ones((2, 2, H)), jnp.zeros((2, 2, 2 * H)))


@pytest.mark.parametrize(
    ("thunk", "exc", "match"),
    [
        (
            lambda: se.RLIF((4, 4), key=jax.random.key(0)),
            ValueError,
            r"RLIF: `hidden_shape` must be 1-D",
        ),
        (
            lambda: se.LIF((4,)),
            TypeError,
            r"LIF: `key` is required to initialise `beta`",
        ),
        (
            lambda: se.LIF((0,), beta=0.5),
            ValueError,
            r"LIF: every size in `hidden_shape` must be positive",
        ),
        (
            lambda: se.SumPool(2, padding="FULL"),
            ValueError,
            r"SumPool: `padding` must be 'SAME' or 'VALID'",
        ),
        (
            lambda: se.ALIF((4,), beta=jnp.ones(3), gamma=0.5),
            ValueError,
            r"ALIF: `beta` must be a number or an array of shape \(4,\)",
        ),
        (
            lambda: se.run(
                eqx.nn.Linear(2, 2, key=jax.random.key(0)), jnp.ones((3, 2))
            ),
            TypeError,
            r"no `state` was given",
        ),
        (
            lambda: se.run(
                se.LIF((3,), beta=0.5),
                jnp.ones((5, 20, 3)),
                se.LIF((3,), beta=0.5).initial_state(5),
            ),
            ValueError,
            r"looks batch-major",
        ),
        (
            lambda: se.Sequential(se.LIF((3,), beta=0.5))(jnp.ones(3), jnp.zeros(3)),
            TypeError,
            r"Sequential: `state` must be a list with one entry per layer \(1\)",
        ),
        (
            lambda: se.PopulationCode(3)(jnp.ones(10)),
            ValueError,
            r"PopulationCode: the last axis of `x` \(10\) must be a positive",
        ),
    ],
    ids=[
        "recurrent-2d",
        "no-key",
        "zero-size",
        "padding",
        "beta-shape",
        "run-no-state",
        "batch-major",
        "seq-state",
        "population",
    ],
)
def test_bad_input(thunk, exc, match):
    with pytest.raises(exc, match=match):
        thunk()


def _params(model):
    return {
        "/".join(map(str, k)): np.asarray(v)
        for k, v in nnx.traversals.flatten_mapping(
            nnx.to_pure_dict(nnx.state(model, nnx.Param))
        ).items()
    }


@pytest.mark.parametrize("neuron", NEURONS, ids=NEURON_IDS)
def test_conversion_round_trip_keeps_parameters(neuron):
    layer = neuron.make((H,), seed=3)
    back = se.to_nnx(se.from_nnx(layer))
    assert type(back) is type(layer)
    a, b = _params(layer), _params(back)
    assert sorted(a) == sorted(b) == sorted(neuron.param_names)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    # and the other way round, from Equinox
    e = neuron.eqx_from((H,), neuron.random_params((H,), seed=4))
    e2 = se.from_nnx(se.to_nnx(e))
    for x, y in zip(jax.tree.leaves(e), jax.tree.leaves(e2), strict=True):
        np.testing.assert_array_equal(x, y)


def test_conversion_of_sequential_with_linear_and_conv():
    model = snn.Sequential(
        nnx.Conv(2, 3, (3, 3), strides=2, padding="VALID", rngs=nnx.Rngs(0)),
        snn.LIF((3, 3, 3), rngs=nnx.Rngs(1)),
        snn.SumPool(3, padding="SAME"),
        snn.Flatten(),
        nnx.Linear(3, 2, rngs=nnx.Rngs(2)),
        snn.LI((2,)),
    )
    twin = se.from_nnx(model)
    assert isinstance(twin.layers[0], se.ChannelsLast)
    assert isinstance(twin.layers[0].layer, eqx.nn.Conv)
    assert isinstance(twin.layers[4], eqx.nn.Linear)
    back = se.to_nnx(twin)
    a, b = _params(model), _params(back)
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    xs = spiking_input(0, (5, 2, 7, 7, 2), scale=2.0)
    np.testing.assert_allclose(
        snn.run(model, xs)[0],
        se.run(twin, xs, twin.initial_state(2))[0],
        rtol=1e-6,
        atol=1e-6,
    )


def test_unsupported_conversion_is_a_clear_error():
    with pytest.raises(TypeError, match=r"from_nnx: no conversion for BatchNorm"):
        se.from_nnx(nnx.BatchNorm(3, rngs=nnx.Rngs(0)))
    with pytest.raises(TypeError, match=r"to_nnx: no conversion for GRUCell"):
        se.to_nnx(eqx.nn.GRUCell(2, 2, key=jax.random.key(0)))


def _eqx_model(key):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    return se.Sequential(
        eqx.nn.Linear(6, 16, key=k1),
        se.ALIF((16,), key=k2),
        se.ActivityRegularization((16,)),
        eqx.nn.Linear(16, 3, key=k3),
        se.LI((3,), key=k4),
    )


def test_equinox_training_step_and_serialisation(tmp_path):
    model = _eqx_model(jax.random.key(0))
    xs = spiking_input(1, (20, 6), scale=2.0)
    xs = jnp.stack([xs, xs[::-1], xs * 0.5, xs[:, ::-1]], axis=1)  # [T, B, 6]
    labels = jnp.array([0, 1, 2, 0])
    optim = optax.adam(1e-2)
    opt_state = optim.init(eqx.filter(model, eqx.is_array))

    def loss_fn(model, xs):
        run_one = lambda x: se.run(model, x)  # noqa: E731
        traces, final = jax.vmap(run_one, in_axes=1, out_axes=(1, 0))(xs)
        logits = traces.sum(0)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
        return loss + 1e-4 * jnp.sum(final[2])  # spike count from the state

    @eqx.filter_jit
    def train_step(model, opt_state, xs):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, xs)
        updates, opt_state = optim.update(
            grads, opt_state, eqx.filter(model, eqx.is_array)
        )
        return eqx.apply_updates(model, updates), opt_state, loss

    losses = []
    for _ in range(15):
        model, opt_state, loss = train_step(model, opt_state, xs)
        losses.append(float(loss))
    assert losses[-1] < losses[0]

    path = tmp_path / "model.eqx"
    eqx.tree_serialise_leaves(path, model)
    restored = eqx.tree_deserialise_leaves(path, _eqx_model(jax.random.key(42)))
    a = jax.vmap(lambda x: se.run(model, x), in_axes=1, out_axes=(1, 0))(xs)
    b = jax.vmap(lambda x: se.run(restored, x), in_axes=1, out_axes=(1, 0))(xs)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


def test_sequential_state_and_batched_run():
    model = _eqx_model(jax.random.key(3))
    assert [None if s is None else s.shape for s in model.initial_state()] == [
        None,
        (32,),
        (16,),
        None,
        (3,),
    ]
    xs = spiking_input(2, (10, 5, 6), scale=2.0)
    batched, _ = se.run(model, xs, model.initial_state(5))
    mapped, _ = jax.vmap(lambda x: se.run(model, x), in_axes=1, out_axes=(1, 0))(xs)
    np.testing.assert_allclose(batched, mapped, rtol=1e-6, atol=1e-6)
