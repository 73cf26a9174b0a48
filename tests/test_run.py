"""`run`, `Sequential` and `PSU_LIF.parallel` against step-by-step loops, and
the neurons under `nnx.jit`, `jax.vmap` and `nnx.value_and_grad`."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import spyx.axn as axn
import spyx.experimental
import spyx.nn as snn
import spyx_eqx

from .helpers import NEURON_IDS, NEURONS, one_of_each_kind, spiking_input

T, B, H = 15, 3, 6

# one neuron of each kind (and LI, the readout) by default, every one when slow
SAMPLED = [
    pytest.param(
        n, marks=() if n in one_of_each_kind() or n.name == "LI" else pytest.mark.slow
    )
    for n in NEURONS
]


def _loop(model, xs, state):
    outs = []
    for x in xs:
        out, state = model(x, state)
        outs.append(out)
    return jnp.stack(outs), state


def _close(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("neuron", NEURONS, ids=NEURON_IDS)
def test_run_equals_python_loop(neuron):
    layer = neuron.make((H,))
    xs = spiking_input(0, (T, B, H))
    outs, final = snn.run(layer, xs)
    ref_outs, ref_final = _loop(layer, xs, layer.initial_state(B))
    _close(outs, ref_outs)
    _close(final, ref_final)
    assert outs.shape == (T, B, H)


def _network(neuron, seed=0):
    rngs = nnx.Rngs(seed)
    return snn.Sequential(
        nnx.Linear(5, H, rngs=rngs),
        neuron.make((H,), seed=seed + 1),
        snn.ActivityRegularization((H,)),
        nnx.Linear(H, 3, rngs=rngs),
        snn.LI((3,)),
    )


@pytest.mark.parametrize("neuron", SAMPLED, ids=NEURON_IDS)
def test_sequential_run_equals_loop_and_tracks_state(neuron):
    model = _network(neuron)
    xs = spiking_input(1, (T, B, 5), scale=3.0)
    outs, final = snn.run(model, xs)
    ref_outs, ref_final = _loop(model, xs, model.initial_state(B))
    _close(outs, ref_outs)
    _close(final, ref_final)
    assert final[0] is None and final[3] is None
    assert final[1].shape == (B, *neuron.make((H,)).state_shape)
    # the activity counter holds the total of the neuron's outputs
    hidden = []
    state = model.initial_state(B)
    for x in xs:
        h = model.layers[0](x)
        h, state[1] = model.layers[1](h, state[1])
        hidden.append(h)
    np.testing.assert_allclose(final[2], jnp.stack(hidden).sum(0), rtol=1e-5, atol=1e-5)


# The associative scan on a 3-D layer compiles slowly on a CPU: slow.
PARALLEL_CASES = [
    pytest.param(
        method,
        hidden,
        id=f"{'1d' if len(hidden) == 1 else '3d'}-{method}",
        # by default each method once, "auto" on both shapes
        marks=pytest.mark.slow
        if (method, len(hidden)) in {("associative", 3), ("sequential", 3)}
        or (method, len(hidden)) == ("auto", 1)
        else (),
    )
    for hidden in [(H,), (2, 3, 4)]
    for method in ["auto", "associative", "sequential"]
]


@pytest.mark.parametrize(("method", "hidden"), PARALLEL_CASES)
def test_psu_parallel_equals_scanned_steps(method, hidden):
    from spyx.core import leaky_scan

    layer = spyx.experimental.PSU_LIF(hidden, rngs=nnx.Rngs(0))
    xs = spiking_input(2, (40, B, *hidden))

    def parallel(x):
        return layer.parallel(x, method=method)

    def scanned(x):
        return snn.run(layer, x)

    # jitted: op by op, the associative scan's many small steps are slow
    spikes, V_final = jax.jit(scanned)(xs)
    par = jax.jit(parallel)(xs)
    np.testing.assert_array_equal(par, spikes)
    assert 0 < float(spikes.mean()) < 1
    # the membrane trace, not only the spikes
    V = jax.jit(lambda x: leaky_scan(x, layer.beta[...], method=method))(xs)
    np.testing.assert_allclose(V[-1], V_final, rtol=1e-5, atol=1e-6)
    # gradients of both paths agree too
    g_par = jax.jit(jax.grad(lambda x: parallel(x).sum()))(xs)
    g_seq = jax.jit(jax.grad(lambda x: scanned(x)[0].sum()))(xs)
    np.testing.assert_allclose(g_par, g_seq, rtol=1e-4, atol=1e-6)


def test_experimental_entry_point_is_the_same_class():
    assert spyx.experimental.PSU_LIF is snn.PSU_LIF


@pytest.mark.parametrize("neuron", SAMPLED, ids=NEURON_IDS)
def test_jit_and_vmap_match_eager(neuron):
    layer = neuron.make((H,))
    xs = spiking_input(3, (T, B, H))
    eager = snn.run(layer, xs)
    jitted = nnx.jit(lambda m, x: snn.run(m, x))(layer, xs)
    _close(jitted, eager)
    # vmap over the batch axis: each example on its own, unbatched state
    one = jax.vmap(lambda x, s: snn.run(layer, x, s), in_axes=(1, 0), out_axes=(1, 0))(
        xs, layer.initial_state(B)
    )
    _close(one, eager)


@pytest.mark.parametrize(
    "neuron",
    [  # one neuron of each kind by default (and LI, the readout), all when slow
        pytest.param(
            n,
            id=n.name,
            marks=() if n in one_of_each_kind() or n.name == "LI" else pytest.mark.slow,
        )
        for n in NEURONS
    ],
)
def test_optimizer_step_changes_every_parameter(neuron):
    model = _network(neuron)
    xs = spiking_input(4, (T, B, 5), scale=3.0)
    labels = jnp.array([0, 1, 2])
    optimizer = nnx.Optimizer(model, optax.adam(1e-2), wrt=nnx.Param)
    before = jax.tree.map(jnp.copy, nnx.state(model.layers[1], nnx.Param))

    @nnx.jit
    def train_step(model, optimizer, xs):
        def loss_fn(model):
            outs, _ = snn.run(model, xs)
            logits = outs.sum(0)
            return optax.softmax_cross_entropy_with_integer_labels(
                logits, labels
            ).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss, grads

    loss, grads = train_step(model, optimizer, xs)
    assert jnp.isfinite(loss)
    after = nnx.state(model.layers[1], nnx.Param)
    names = sorted(k for k, _ in nnx.to_flat_state(after))
    assert [n[0] for n in names] == sorted(neuron.param_names)
    for b, a in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True):
        assert not np.allclose(a, b), "a neuron parameter did not change"
    loss2, _ = train_step(model, optimizer, xs)
    assert loss2 < loss


def _lif(beta=0.5):
    return snn.LIF((1,), beta=beta, activation=axn.superspike(k=25.0))


def test_surrogate_gradient_through_one_step():
    """d s / d V = g(V - th) with g the SuperSpike surrogate."""
    layer = _lif()
    V0 = jnp.array([[0.8]])
    g = jax.grad(lambda V: layer(jnp.zeros((1, 1)), V)[0].sum())(V0)
    np.testing.assert_allclose(g, 1 / (1 + 25 * 0.2) ** 2, rtol=1e-6)


def test_surrogate_gradient_through_the_reset():
    """s1 = H(V1 - th), V1 = b V0 + x0 - H(V0 - th) th, so
    d s1 / d V0 = g(V1 - th) (b - th g(V0 - th))."""
    b, th = 0.5, 1.0
    layer = _lif(b)
    V0, x0 = 1.3, 0.7
    s0 = 1.0
    V1 = b * V0 + x0 - s0 * th

    def second_spike(V):
        _, V = layer(jnp.array([[x0]]), V)
        s1, _ = layer(jnp.zeros((1, 1)), V)
        return s1.sum()

    def g(v):
        return 1 / (1 + 25 * abs(v)) ** 2

    grad = jax.grad(second_spike)(jnp.array([[V0]]))
    np.testing.assert_allclose(grad, g(V1 - th) * (b - th * g(V0 - th)), rtol=1e-5)


def test_run_accepts_unroll():
    layer = snn.LIF((H,), beta=0.7)
    xs = spiking_input(5, (T, B, H))
    _close(snn.run(layer, xs, unroll=4), snn.run(layer, xs))


@pytest.mark.parametrize("api", ["nnx", "eqx"])
def test_eager_run_compiles_once_and_reuses_it(api, monkeypatch):
    """`run` called eagerly traces its body once per model structure and
    input shape, then reuses the compiled function (no retracing on the
    second call), and turning `debug_checks` on compiles the checks in."""
    import importlib

    from spyx import core

    module = importlib.import_module(
        "spyx.nn._sequential" if api == "nnx" else "spyx_eqx._sequential"
    )
    traced = []
    body = module._run
    monkeypatch.setattr(module, "_run", lambda *a: traced.append(1) or body(*a))
    layer = snn.LIF((7,), beta=0.5)  # a shape no other test uses
    model = layer if api == "nnx" else spyx_eqx.from_nnx(layer)
    run = snn.run if api == "nnx" else spyx_eqx.run
    x = jnp.full((11, 3, 7), 0.4)
    first = run(model, x)
    second = run(model, x + 0.1)
    assert len(traced) == 1
    assert not np.array_equal(first[1], second[1])  # new data, same program
    with core.debug_checks():
        run(model, x)
    assert len(traced) == 2
