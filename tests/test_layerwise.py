"""Layer-wise execution (whole or in chunks of steps) and memory-bounded
BPTT equal step-by-step execution: outputs, final state and gradients, in
both APIs."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn
import spyx_eqx as se

from .helpers import NEURONS, one_of_each_kind, spiking_input

T, B, F, H = 30, 4, 6, 8

OPTIONS = {
    "layerwise": {"layerwise": True},
    "layerwise-ckpt7": {"layerwise": True, "checkpoint": 7},
    "stepwise-ckpt10": {"layerwise": False, "checkpoint": 10},
    "layerwise-unroll3": {"layerwise": True, "unroll": 3},
    "chunk7": {"chunk": 7},  # four chunks and a tail of two steps
    "chunk10-unroll2": {"chunk": 10, "unroll": 2},
}
# Every neuron layer-wise, in both APIs; the scan options on one neuron of
# each kind of state and path (see `one_of_each_kind`). The default run
# checks one neuron of each kind layer-wise through spyx.nn, LIF through
# spyx_eqx (the equivalence matrix ties the two APIs together), and three
# options on LIF through spyx.nn; the rest is slow.
CASES = [(n, "layerwise") for n in NEURONS] + [
    (n, opt) for n in one_of_each_kind() for opt in OPTIONS if opt != "layerwise"
]


def _by_default(n, opt, api) -> bool:
    if opt == "chunk7":
        return n.name == "LIF"
    if opt != "layerwise":  # three options on LIF by default, all when slow
        return n.name == "LIF" and api == "nnx" and opt in QUICK_OPTIONS
    # every neuron of each kind through spyx.nn; LIF through spyx_eqx too
    return (api == "nnx" and n in one_of_each_kind()) or n.name == "LIF"


QUICK_OPTIONS = ("layerwise-ckpt7", "stepwise-ckpt10", "chunk10-unroll2")


PARAMS = [
    pytest.param(
        n,
        opt,
        api,
        id=f"{api}-{n.name}-{opt}",
        marks=() if _by_default(n, opt, api) else pytest.mark.slow,
    )
    for api in ("nnx", "eqx")
    for n, opt in CASES
]


def _model(neuron, **kwargs):
    rngs = nnx.Rngs(0)
    return snn.Sequential(
        nnx.Linear(F, H, rngs=rngs),
        neuron.make((H,), seed=1, **kwargs),
        snn.ActivityRegularization((H,)),
        nnx.Linear(H, 3, rngs=rngs),
        snn.LI((3,)),
    )


def _close(a, b):
    # One matmul over T*B rows and T matmuls over B rows sum in different
    # orders. Through 30 recurrent steps of float32 backpropagation, a
    # parameter gradient summed over all rows then differs by float32
    # rounding of its largest terms (seen: 2.5e-5 on an entry of 0.87 next to
    # entries of 2848 on one CPU), so each array is compared to 1e-5 of its
    # own scale: relative per entry, and absolute against its largest entry.
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        scale = max(1.0, float(np.max(np.abs(np.asarray(y)))))
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5 * scale)


def _loss_and_grads(run, model, xs, grad, jit, **options):
    def loss(m, x):
        outs, final = run(m, x, **options)
        return jnp.sum(outs**2) + jnp.sum(final[1]), (outs, final)

    # compiled: eagerly, every small op of the backward pass is dispatched
    # (and compiled) on its own, which only costs time
    (value, aux), grads = jit(grad(loss, argnums=(0, 1), has_aux=True))(model, xs)
    return value, aux, grads


def _eqx_grad(loss, argnums, has_aux):
    def wrapped(m, x):
        (value, aux), g = eqx.filter_value_and_grad(lambda mx: loss(*mx), has_aux=True)(
            (m, x)
        )
        return (value, aux), g

    return wrapped


def check_layerwise(neuron, option, api, **kwargs):
    """Loss, outputs, final state and gradients of `run` with `option` equal
    the step-by-step scan's, in the NNX or the Equinox API (`kwargs` go to
    the neuron's constructor)."""
    options = OPTIONS[option]
    xs = spiking_input(0, (T, B, F), scale=3.0)
    nnx_model = _model(neuron, **kwargs)
    if api == "nnx":
        model, run, grad, jit = nnx_model, snn.run, nnx.value_and_grad, nnx.jit
    else:
        model, grad, jit = se.from_nnx(nnx_model), _eqx_grad, eqx.filter_jit
        state = model.initial_state(B)

        def run(m, x, **kw):
            return se.run(m, x, state, **kw)

    ref = _loss_and_grads(run, model, xs, grad, jit, layerwise=False)
    got = _loss_and_grads(run, model, xs, grad, jit, **options)
    _close(got, ref)


@pytest.mark.parametrize(("neuron", "option", "api"), PARAMS)
def test_layerwise_equals_stepwise(neuron, option, api):
    check_layerwise(neuron, option, api)


@jax.custom_vjp
def clipped_straight_through(u):
    """A spike function of one's own whose backward pass is not linear in the
    incoming gradient (it clips it), so no kernel may assume it is."""
    return (u > 0).astype(u.dtype)


clipped_straight_through.defvjp(
    lambda u: ((u > 0).astype(u.dtype), None),
    lambda _, g: (jnp.clip(g, -0.1, 0.1),),
)


@pytest.mark.parametrize(
    ("neuron", "api"),
    [
        pytest.param(
            n,
            api,
            id=f"{api}-{n.name}",
            marks=() if n in one_of_each_kind() and api == "nnx" else pytest.mark.slow,
        )
        for api in ("nnx", "eqx")
        for n in NEURONS
        if n.spiking
    ],
)
def test_spike_function_of_ones_own_gives_the_same_gradients_on_every_path(neuron, api):
    check_layerwise(neuron, "layerwise", api, activation=clipped_straight_through)


def test_unroll_reaches_every_loop():
    """`unroll` is honoured by the sequence kernels (both directions), the
    scanned steps and PSU_LIF's sequential scan; PSU_LIF's associative scan
    has no loop and refuses it."""
    xs = spiking_input(0, (T, B, H))
    for n in NEURONS:
        layer = n.make((H,))
        state = layer.initial_state(B)

        def loss(xs, layer=layer, state=state):
            outs, final = layer.run_sequence(xs, state, unroll=3)
            return outs.sum() + final.sum()

        jaxpr = str(jax.make_jaxpr(jax.grad(loss))(xs))
        loops = jaxpr.count("scan[")
        assert loops >= 1 and jaxpr.count("unroll=3") == loops, n.name
    psu = snn.PSU_LIF((H,), beta=0.9)
    with pytest.raises(ValueError, match=r"`unroll` \(3\) has no effect on the assoc"):
        psu.run_sequence(xs, psu.initial_state(B), unroll=3, method="associative")


def test_psu_lif_in_a_sequential_runs_its_parallel_path():
    layer = snn.PSU_LIF((H,), rngs=nnx.Rngs(0))
    model = snn.Sequential(nnx.Linear(F, H, rngs=nnx.Rngs(1)), layer)
    xs = spiking_input(1, (T, B, F), scale=3.0)
    calls = []
    original = type(layer).run_sequence

    def spy(self, x, V, **kw):
        calls.append(x.shape)
        return original(self, x, V, **kw)

    type(layer).run_sequence = spy
    try:
        outs, final = snn.run(model, xs)
    finally:
        type(layer).run_sequence = original
    assert calls == [(T, B, H)]
    ref, ref_final = snn.run(model, xs, layerwise=False)
    np.testing.assert_array_equal(outs, ref)
    np.testing.assert_allclose(final[1], ref_final[1], rtol=1e-5, atol=1e-6)


def test_psu_run_sequence_from_a_nonzero_state():
    layer = snn.PSU_LIF((H,), rngs=nnx.Rngs(0))
    xs = spiking_input(2, (T, B, H))
    V0 = jnp.full((B, H), 0.7)
    spikes, V = layer.run_sequence(xs, V0)
    ref, ref_V = snn.run(layer, xs, V0)
    np.testing.assert_array_equal(spikes, ref)
    np.testing.assert_allclose(V, ref_V, rtol=1e-5, atol=1e-6)


def test_checkpoint_must_be_positive():
    with pytest.raises(ValueError, match=r"`checkpoint` must be a positive number"):
        snn.run(snn.LIF((H,), beta=0.5), jnp.ones((T, B, H)), checkpoint=0)


KERNEL_NEURONS = [n for n in NEURONS if n.spec.sequence is not None and not n.parallel]
DECAYS = (0.8, "per-unit", 1.0, 0.0)


def _kernel_case(n, reset, decay):
    marks = []
    # in the default run: every neuron at per-unit decays in its default
    # mode, and LIF (the hand-derived kernel) and RCuBaLIF (recurrent, two
    # parts) at per-unit decays in every mode; the rest slow
    default = decay == "per-unit" and (
        reset == "subtract" or n.name in ("LIF", "RCuBaLIF")
    )
    if not default:
        marks.append(pytest.mark.slow)
    return pytest.param(n, reset, decay, marks=marks, id=f"{n.name}-{reset}-{decay}")


KERNEL_CASES = [
    _kernel_case(n, reset, decay)
    for n in KERNEL_NEURONS
    for reset in ("subtract", "zero", "none")
    for decay in DECAYS
]


def _generic(n, reset, decay):
    # `adjoint_sequence` built from the table's step, in place of the table's
    # kernel: the default run checks two neurons, the slow run all
    marks = (
        () if n.name in ("ALIF", "RLIF") and decay == "per-unit" else [pytest.mark.slow]
    )
    return pytest.param(n, reset, decay, marks=marks, id=f"{n.name}-{reset}-{decay}")


GENERIC_CASES = [
    _generic(n, reset, decay)
    for n in KERNEL_NEURONS
    for reset in ("subtract", "zero")
    for decay in ("per-unit", 1.0)
] + [
    # a step whose output depends on its input (the spike is read off the
    # updated membrane): the kernel must keep x for its backward pass
    pytest.param(n, "subtract", "per-unit", id=f"{n.name}-per-unit")
    for n in NEURONS
    if n.parallel
]


@pytest.mark.parametrize(("neuron", "reset", "decay"), KERNEL_CASES)
def test_sequence_kernel_backward_equals_autodiff(neuron, reset, decay):
    """Each sequence kernel's hand-derived backward pass (`lif_sequence`,
    `alif_sequence`, `cuba_lif_sequence`) against autodiff of the
    step-by-step scan: values and gradients w.r.t. the input, the start
    state, every decay (scalar, per-unit, and at the edges 0 and 1) and the
    recurrent weights, in every reset mode."""
    _check_kernel(neuron.spec, neuron.spec.sequence, reset, decay)


@pytest.mark.parametrize(("neuron", "reset", "decay"), GENERIC_CASES)
def test_adjoint_sequence_equals_autodiff(neuron, reset, decay):
    """`spyx.core.adjoint_sequence`, the kernel built from any step, checked
    the same way on the built-in steps."""
    from spyx import core

    spec = neuron.spec
    kernel = core.adjoint_sequence(spec.step, spec.decays, spec.recurrent)
    _check_kernel(spec, kernel, reset, decay)


def _check_kernel(spec, kernel, reset, decay):
    from spyx import axn, core

    hidden = (H,)
    rng = np.random.default_rng(5)
    decays = {
        d: jnp.asarray(rng.uniform(0.1, 0.95, hidden), jnp.float32)
        if decay == "per-unit"
        else jnp.asarray(decay)
        for d in spec.decays
    }
    W = jnp.asarray(rng.normal(0.0, 0.4, (H, H)), jnp.float32)
    xs = spiking_input(7, (T, B, H), scale=1.5)
    state0 = jnp.asarray(rng.uniform(0.0, 0.5, (B, *spec.state_shape(hidden))))
    spike = axn.arctan()
    weights = jax.random.normal(jax.random.key(3), (T, B, H))

    def keywords(p, W):
        return spec.step_kwargs(dict(p, recurrent_w=W), 1.0, spike, reset)

    def by_steps(x, s0, p, W):
        step = lambda x_t, s: spec.step(x_t, s, **keywords(p, W))  # noqa: E731
        out, final = core.time_scan(step, x, s0)
        return jnp.sum(out * weights) + jnp.sum(final**2)

    def by_kernel(x, s0, p, W):
        out, final = kernel(x, s0, **keywords(p, W))
        return jnp.sum(out * weights) + jnp.sum(final**2)

    args = (xs, state0, decays, W)
    ref = jax.value_and_grad(by_steps, argnums=(0, 1, 2, 3))(*args)
    got = jax.value_and_grad(by_kernel, argnums=(0, 1, 2, 3))(*args)
    _close(got, ref)
