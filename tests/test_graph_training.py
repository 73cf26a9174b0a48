"""Training with a `Graph`: burn-in cuts the gradient through the first steps
(both APIs), and `param_labels` selects decays and recurrent weights."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import spyx.nn as snn
import spyx_eqx as se

from .test_graph import XS, B, H, T, _close, _labelled, nnx_graph

# ------------------------------------------------- training conveniences


@pytest.mark.parametrize("api", ["nnx", pytest.param("eqx", marks=pytest.mark.slow)])
def test_burnin_cuts_the_gradient_through_the_first_steps(api):
    """run(..., burnin=N): the same outputs and final state; the gradient
    equals running the first N steps, cutting the state from the gradient,
    and training on the rest."""
    N = 9
    weights = jnp.asarray(np.random.default_rng(2).normal(size=(T, B, H)))
    model = nnx_graph() if api == "nnx" else se.from_nnx(nnx_graph())
    run = snn.run if api == "nnx" else se.run
    grad = nnx.grad if api == "nnx" else eqx.filter_grad

    def with_burnin(m):
        return jnp.sum(run(m, XS, burnin=N)[0] * weights)

    def by_hand(m):
        _, state = run(m, XS[:N])
        later, _ = run(m, XS[N:], jax.lax.stop_gradient(state))
        return jnp.sum(later * weights[N:])

    def plain(m):
        return jnp.sum(run(m, XS)[0] * weights)

    got, want, full = (grad(f)(model) for f in (with_burnin, by_hand, plain))
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        _close(a, b)
    assert any(
        not np.allclose(a, b)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(full), strict=True)
    )
    outs, final = run(model, XS, burnin=N)
    outs0, final0 = run(model, XS)
    _close(outs, outs0, 1e-6)
    for bad in (-1, T + 1, 2.5):
        with pytest.raises(ValueError, match=r"`burnin` must be a number of steps"):
            run(model, XS, burnin=bad)


def test_param_labels_select_decays_and_recurrent_weights_in_both_apis():
    model = _labelled()
    params = nnx.to_pure_dict(nnx.state(model, nnx.Param))
    labels = snn.param_labels(model)(params)["nodes"]
    assert labels["fc"]["kernel"] == labels["fc"]["bias"] == "other"
    assert labels["rlif"]["beta"] == "decay"
    assert labels["rlif"]["recurrent_w"] == "recurrent_w"
    assert labels["alif"]["gamma"] == labels["li"]["beta"] == "decay"
    mask = snn.param_mask(model, "decay")(params)["nodes"]
    assert mask["alif"]["beta"] and not mask["rlif"]["recurrent_w"]
    # an optimiser that trains the decays only
    tx = optax.multi_transform(
        {"decay": optax.sgd(0.1), "recurrent_w": optax.set_to_zero()}
        | {"other": optax.set_to_zero()},
        snn.param_labels(model),
    )
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    before = nnx.clone(model)
    grads = nnx.grad(lambda m: jnp.sum(snn.run(m, XS)[0] ** 2))(model)
    optimizer.update(model, grads)
    moved = jax.tree.map(
        lambda a, b: bool(jnp.any(a != b)),
        nnx.to_pure_dict(nnx.state(model, nnx.Param)),
        nnx.to_pure_dict(nnx.state(before, nnx.Param)),
    )["nodes"]
    assert moved["rlif"]["beta"] and moved["li"]["beta"]
    assert not moved["fc"]["kernel"] and not moved["rlif"]["recurrent_w"]
    twin = se.from_nnx(_labelled())
    eqx_labels = se.param_labels(twin).nodes
    assert eqx_labels["rlif"].recurrent_w == "recurrent_w"
    assert eqx_labels["rlif"].beta == eqx_labels["alif"].gamma == "decay"
    assert eqx_labels["fc"].weight == "other"
    params = eqx.filter(twin, eqx.is_array)
    masked = optax.masked(optax.sgd(1.0), se.param_mask("recurrent_w"))
    updates, _ = masked.update(
        jax.tree.map(jnp.ones_like, params), masked.init(params), params
    )
    assert float(updates.nodes["rlif"].recurrent_w.mean()) == -1.0
    with pytest.raises(ValueError, match=r"kinds must be among"):
        snn.param_mask(model, "decays")  # the kind is "decay"
