"""The machinery of the equivalence matrix (see `test_equivalence.py`),
shared with the test that adds a neuron from outside the package."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import spyx.nn as snn
import spyx_eqx

from .helpers import one_of_each_kind, spiking_input

B, T, H, F_IN, N_OUT = 3, 8, 5, 4, 3
RTOL = 1e-6
ATOL = 1e-6


# ----------------------------------------------------------------- models
# Each builder returns (nnx_model, eqx_twin_built_independently, input_shape).


def _alone(neuron):
    p = neuron.random_params((H,), seed=7)
    return neuron.nnx_from((H,), p), neuron.eqx_from((H,), p), (H,)


def _dense(neuron):
    rng = np.random.default_rng(11)
    W1 = rng.normal(0, 0.8, (F_IN, H)).astype(np.float32)
    b1 = rng.normal(0, 0.2, (H,)).astype(np.float32)
    W2 = rng.normal(0, 0.5, (H, N_OUT)).astype(np.float32)
    p = neuron.random_params((H,), seed=3)
    lin1 = nnx.Linear(F_IN, H, rngs=nnx.Rngs(0))
    lin1.kernel[...], lin1.bias[...] = W1, b1
    lin2 = nnx.Linear(H, N_OUT, use_bias=False, rngs=nnx.Rngs(0))
    lin2.kernel[...] = W2
    nnx_model = snn.Sequential(
        lin1, neuron.nnx_from((H,), p), lin2, snn.LI((N_OUT,), beta=0.9)
    )
    k = jax.random.key(0)
    e1 = eqx.nn.Linear(F_IN, H, key=k)
    e1 = eqx.tree_at(lambda m: (m.weight, m.bias), e1, (jnp.asarray(W1.T), b1))
    e2 = eqx.nn.Linear(H, N_OUT, use_bias=False, key=k)
    e2 = eqx.tree_at(lambda m: m.weight, e2, jnp.asarray(W2.T))
    eqx_model = spyx_eqx.Sequential(
        e1, neuron.eqx_from((H,), p), e2, spyx_eqx.LI((N_OUT,), beta=0.9)
    )
    return nnx_model, eqx_model, (F_IN,)


def _conv(neuron):
    rng = np.random.default_rng(5)
    K = rng.normal(0, 0.6, (3, 3, 2, 3)).astype(np.float32)  # (kh, kw, in, out)
    Wl = rng.normal(0, 0.5, (2 * 2 * 3, N_OUT)).astype(np.float32)
    p = neuron.random_params((4, 4, 3), seed=2)
    conv = nnx.Conv(2, 3, (3, 3), use_bias=False, rngs=nnx.Rngs(0))
    conv.kernel[...] = K
    lin = nnx.Linear(12, N_OUT, use_bias=False, rngs=nnx.Rngs(0))
    lin.kernel[...] = Wl
    nnx_model = snn.Sequential(
        conv,
        neuron.nnx_from((4, 4, 3), p),
        snn.SumPool(2),
        snn.Flatten(),
        lin,
        snn.LI((N_OUT,), beta=0.8),
    )
    k = jax.random.key(0)
    econv = eqx.nn.Conv(2, 2, 3, (3, 3), padding="SAME", use_bias=False, key=k)
    econv = eqx.tree_at(lambda m: m.weight, econv, jnp.asarray(K.transpose(3, 2, 0, 1)))
    elin = eqx.nn.Linear(12, N_OUT, use_bias=False, key=k)
    elin = eqx.tree_at(lambda m: m.weight, elin, jnp.asarray(Wl.T))
    eqx_model = spyx_eqx.Sequential(
        spyx_eqx.ChannelsLast(econv),
        neuron.eqx_from((4, 4, 3), p),
        spyx_eqx.SumPool(2, channel_axis=-1),
        spyx_eqx.Flatten(),
        elin,
        spyx_eqx.LI((N_OUT,), beta=0.8),
    )
    return nnx_model, eqx_model, (4, 4, 2)


def _graph(neuron):
    """The neuron in a `Graph` with a feedback loop onto itself through a
    Linear (delayed where its output needs its input: LI, PSU_LIF) and a
    skip from the input to the readout."""
    rng = np.random.default_rng(12)
    W1 = rng.normal(0, 0.8, (F_IN, H)).astype(np.float32)
    Wb = rng.normal(0, 0.4, (H, H)).astype(np.float32)
    W2 = rng.normal(0, 0.5, (H, N_OUT)).astype(np.float32)
    Ws = rng.normal(0, 0.5, (F_IN, N_OUT)).astype(np.float32)
    p = neuron.random_params((H,), seed=5)
    edges = [
        ("input", "fc"),
        ("fc", "neuron"),
        ("neuron", "back"),
        ("back", "neuron"),
        ("neuron", "out"),
        ("out", "li"),
        ("input", "skip"),
        ("skip", "li"),
        ("li", "output"),
    ]
    delayed = [] if neuron.spec.output_from_state else [("neuron", "back")]
    weights = {"fc": W1, "back": Wb, "out": W2, "skip": Ws}
    nnx_nodes = {}
    eqx_nodes = {}
    for name, w in weights.items():
        lin = nnx.Linear(*w.shape, use_bias=False, rngs=nnx.Rngs(0))
        lin.kernel[...] = w
        nnx_nodes[name] = lin
        e = eqx.nn.Linear(*w.shape, use_bias=False, key=jax.random.key(0))
        eqx_nodes[name] = eqx.tree_at(lambda m: m.weight, e, jnp.asarray(w.T))
    nnx_nodes |= {"neuron": neuron.nnx_from((H,), p), "li": snn.LI((N_OUT,), beta=0.9)}
    eqx_nodes |= {
        "neuron": neuron.eqx_from((H,), p),
        "li": spyx_eqx.LI((N_OUT,), beta=0.9),
    }
    return (
        snn.Graph(nnx_nodes, edges, delayed=delayed),
        spyx_eqx.Graph(eqx_nodes, edges, delayed=delayed),
        (F_IN,),
    )


BUILDERS = {"alone": _alone, "dense": _dense, "conv": _conv, "graph": _graph}

# ------------------------------------------------------------------ modes


def _step(api):
    return lambda m, x, s: m(x, s)


def _run(api):
    run = snn.run if api == "nnx" else spyx_eqx.run
    return lambda m, x, s: run(m, x, s)


def _parallel(api):
    return lambda m, x, s: (m.parallel(x, method="associative"), None)


MODES = {"step": _step, "run": _run, "parallel": _parallel}


def in_default_run(neuron, model, mode, transform, twin) -> bool:
    """The part of the matrix the default `pytest` run checks; the rest is
    marked slow (CI runs it too, after the default run).

    Default: the neuron inside a Sequential, built independently, its `run`
    jitted for one neuron of each kind (and vmapped, for a one-part and a
    two-part state); the neuron alone
    through `from_nnx`, its step jitted (and its `run` and `parallel`, for
    one neuron of each kind); the conv model (with a one- and a two-part
    state), built independently, its `run` jitted; the graph for LIF
    (same-step feedback) and PSU_LIF (delayed feedback), its `run` jitted.
    """
    if model == "dense":  # one neuron of each kind (the layer-wise matrix has all)
        vmapped = transform == "vmap" and neuron.spec.name in ("LIF", "ALIF")
        jitted = transform == "jit" and neuron in one_of_each_kind()
        return twin == "explicit" and mode == "run" and (jitted or vmapped)
    if model == "alone":  # every step; the run of one neuron of each kind
        each = mode == "step" or neuron in one_of_each_kind()
        return each and twin == "from_nnx" and transform == "jit"
    if model == "graph":  # a neuron that feeds back in the step, one delayed
        which = neuron.spec.name in ("LIF", "PSU_LIF")
        return which and twin == "explicit" and (mode, transform) == ("run", "jit")
    two_kinds = neuron.spec.name in ("LIF", "ALIF")
    return two_kinds and twin == "explicit" and (mode, transform) == ("run", "jit")


def cases(neurons, conv_neurons=(), models=("alone", "dense"), default=None):
    """Every (neuron, model, mode, transform, twin) of the matrix as a
    `pytest.param`, marked slow outside `default` (a predicate on
    ``(neuron, model, mode, transform, twin)``; `in_default_run` if not
    given). Each case is
    checked for outputs, final state and both gradients at once (one
    computation per case, whichever test worker runs it).

    Models: the neuron alone and between Linear layers for every neuron, a
    Conv model for `conv_neurons`. Modes: one step, `run`, and `parallel`
    for a neuron alone that has one.
    """
    for neuron in neurons:
        for model in [*models, *(["conv"] if neuron in conv_neurons else [])]:
            parallel = neuron.parallel and model == "alone"
            for mode in ["step", "run"] + (["parallel"] if parallel else []):
                for transform in ("eager", "jit", "vmap"):
                    if transform == "vmap" and model == "conv":
                        # spyx.nn.Flatten and SumPool are batch-first by
                        # contract (axis 0 is the batch), so an NNX conv model
                        # is not mapped over its batch; the Equinox Sequential
                        # maps its one-example layers itself, checked by
                        # eager and jit.
                        continue
                    for twin in ("from_nnx", "explicit"):
                        case = (neuron, model, mode, transform, twin)
                        fast = (default or in_default_run)(*case)
                        yield pytest.param(
                            *case,
                            id=_case_id(*case),
                            marks=() if fast else pytest.mark.slow,
                        )


def _case_id(neuron, model, mode, transform, twin) -> str:
    prefix = "" if model == "alone" else f"{model}-"
    return f"{prefix}{neuron.name}-{mode}-{transform}-{twin}"


def _forward(api, mode, transform):
    f = MODES[mode](api)
    if transform != "vmap":
        return f
    axis = 0 if mode == "step" else 1

    def mapped(m, x, s):
        return jax.vmap(
            lambda xx, ss: f(m, xx, ss), in_axes=(axis, 0), out_axes=(axis, 0)
        )(x, s)

    return mapped


def _loss(out, final, weights):
    total = jnp.sum(out * weights)
    for leaf in jax.tree.leaves(final):
        total = total + 0.5 * jnp.sum(leaf)
    return total


def _evaluate(api, model, mode, transform, x, state, weights):
    # "vmap" is compiled too (jit of the vmapped function): eager vmap of a
    # scan dispatches op by op and only costs time
    forward = _forward(api, mode, transform)
    compiled = transform in ("jit", "vmap")
    if api == "nnx":

        def loss(m, x):
            out, final = forward(m, x, state)
            return _loss(out, final, weights), (out, final)

        def everything(m, x):
            grad = nnx.grad(loss, argnums=(0, 1), has_aux=True)
            (gm, gx), (out, final) = grad(m, x)
            return out, final, gx, nnx.to_pure_dict(gm)

        fn = nnx.jit(everything) if compiled else everything
        out, final, gx, gparams = fn(model, x)
        # gradient w.r.t. parameters, in the NNX layout, keyed by path
        gparams = dict(nnx.traversals.flatten_mapping(gparams))
        return out, final, gx, gparams

    def loss(mx):
        m, x = mx
        out, final = forward(m, x, state)
        return _loss(out, final, weights), (out, final)

    def everything(m, x):
        (gm, gx), (out, final) = eqx.filter_grad(loss, has_aux=True)((m, x))
        return out, final, gx, gm

    fn = eqx.filter_jit(everything) if compiled else everything
    out, final, gx, gm = fn(model, x)
    # bring the Equinox gradient into the NNX layout through the conversion
    as_nnx = spyx_eqx.to_nnx(gm)
    gparams = dict(
        nnx.traversals.flatten_mapping(nnx.to_pure_dict(nnx.state(as_nnx, nnx.Param)))
    )
    return out, final, gx, gparams


@functools.cache
def _setup(neuron, model, mode):
    nnx_model, eqx_explicit, in_shape = BUILDERS[model](neuron)
    if mode == "step":
        x = spiking_input(1, (B, *in_shape), scale=2.5)
        state = nnx_model.initial_state(B)
        # a non-zero state, so that the step spikes and resets
        state = jax.tree.map(lambda s: s + 1.1 * jnp.ones_like(s), state)
    else:
        x = spiking_input(1, (T, B, *in_shape), scale=2.5)
        state = None if mode == "parallel" else nnx_model.initial_state(B)
    out_shape = nnx.eval_shape(lambda m: MODES[mode]("nnx")(m, x, state)[0], nnx_model)
    out_shape = out_shape.shape
    weights = jax.random.normal(jax.random.key(9), out_shape)
    return nnx_model, eqx_explicit, x, state, weights


@functools.cache
def _nnx_results(neuron, model, mode, transform):
    nnx_model, _, x, state, weights = _setup(neuron, model, mode)
    return _evaluate("nnx", nnx_model, mode, transform, x, state, weights)


@functools.cache
def _results(neuron, model, mode, transform, twin):
    nnx_model, eqx_explicit, x, state, weights = _setup(neuron, model, mode)
    eqx_model = spyx_eqx.from_nnx(nnx_model) if twin == "from_nnx" else eqx_explicit
    out_eqx = _evaluate("eqx", eqx_model, mode, transform, x, state, weights)
    return _nnx_results(neuron, model, mode, transform), out_eqx


def _assert_close(a, b, what):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb), f"{what}: different structures"
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_allclose(x, y, rtol=RTOL, atol=ATOL, err_msg=what)


def check_agreement(neuron, model, mode, transform, twin):
    """The NNX model and its Equinox twin agree on the outputs, the final
    state (not for `parallel`, which starts from and returns no state), and
    the gradients w.r.t. the input and every parameter."""
    (o1, f1, gx1, gp1), (o2, f2, gx2, gp2) = _results(
        neuron, model, mode, transform, twin
    )
    _assert_close(o1, o2, "outputs")
    assert o1.shape == o2.shape
    if mode != "parallel":
        assert f1 is not None and f2 is not None
        _assert_close(f1, f2, "final state")
    _assert_close(gx1, gx2, "gradient w.r.t. the input")
    assert float(jnp.abs(gx1).sum()) > 0, "the input gradient should not vanish"
    assert sorted(gp1) == sorted(gp2)
    if model != "alone" or neuron.param_names:
        assert gp1, "the model should have parameters with gradients"
    for path in gp1:
        _assert_close(gp1[path], gp2[path], f"gradient w.r.t. {path}")
