"""spyx.optimize: spyx 1.0's training helpers, each training a small model
in both APIs (NNX in place, Equinox returning the new model)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import spyx.fn
import spyx.nn as snn
import spyx.optimize as opt
import spyx_eqx as se

T, B, F, K = 8, 12, 6, 3


def _nnx_model():
    rngs = nnx.Rngs(0)
    return snn.Sequential(
        nnx.Linear(F, 10, rngs=rngs),
        snn.LIF((10,), rngs=rngs),
        nnx.Linear(10, K, rngs=rngs),
        snn.LI((K,)),
    )


def _model(api):
    return _nnx_model() if api == "nnx" else se.from_nnx(_nnx_model())


def _data(n_batches, seed=0):
    """Classes that light up their own input channels, time-major batches."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n_batches):
        y = rng.integers(0, K, B)
        x = (rng.random((T, B, F)) < 0.05).astype(np.float32)
        for i, c in enumerate(y):
            x[:, i, 2 * c : 2 * c + 2] += rng.random((T, 2)) < 0.5
        xs.append(np.clip(x, 0, 1))
        ys.append(y)
    return jnp.asarray(np.stack(xs)), jnp.asarray(np.stack(ys))


CE = spyx.fn.integral_crossentropy(time_axis=0)
ACC = spyx.fn.integral_accuracy(time_axis=0)


def _run(api):
    return snn.run if api == "nnx" else se.run


def _loss_fn(api):
    run = _run(api)
    return lambda m, x, y: CE(run(m, x)[0], y)


def _eval_fn(api):
    run = _run(api)

    def evaluate(m, x, y):
        traces = run(m, x)[0]
        return ACC(traces, y)[0], CE(traces, y)

    return evaluate


APIS = ["nnx", "eqx"]


def _params(model):
    if isinstance(model, nnx.Module):
        return jax.tree.leaves(nnx.state(model, nnx.Param))
    # the parameters, without the zero start states the neurons' StateIndex
    # fields hold for eqx.nn.make_with_state (no gradient reaches those)
    is_index = lambda x: isinstance(x, eqx.nn.StateIndex)  # noqa: E731
    no_index = jax.tree.map(
        lambda x: None if is_index(x) else x, model, is_leaf=is_index
    )
    return jax.tree.leaves(eqx.filter(no_index, eqx.is_inexact_array))


@pytest.mark.parametrize("api", APIS)
def test_train_and_eval_steps(api):
    model, (X, Y) = _model(api), _data(1)
    tx = optax.adam(2e-2)
    step = opt.make_train_step(_loss_fn(api), tx)
    evaluate = opt.make_eval_step(_eval_fn(api))
    acc0, loss0 = evaluate(model, X[0], Y[0])
    if api == "nnx":
        optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
        for _ in range(15):
            loss = step(model, optimizer, X[0], Y[0])
    else:
        state = tx.init(eqx.filter(model, eqx.is_inexact_array))
        for _ in range(15):
            loss, model, state = step(model, state, X[0], Y[0])
    acc, loss1 = evaluate(model, X[0], Y[0])
    assert np.isfinite(float(loss)) and float(loss1) < float(loss0)


def test_equinox_step_without_tx_says_what_to_do():
    step = opt.make_train_step(_loss_fn("eqx"))
    X, Y = _data(1)
    with pytest.raises(TypeError, match=r"make_train_step\(loss_fn, tx\)"):
        step(_model("eqx"), None, X[0], Y[0])
    with pytest.raises(TypeError, match=r"nnx.Optimizer"):
        step(_model("nnx"), optax.adam(1e-3), X[0], Y[0])


@pytest.mark.parametrize("api", APIS)
def test_fit_trains_and_returns_the_history(api):
    model = _model(api)
    before = [np.asarray(p).copy() for p in _params(model)]
    X, Y = _data(3)
    tX, tY = _data(1, seed=1)
    seen = []
    history = opt.fit(
        model,
        optax.adam(2e-2),
        _loss_fn(api),
        lambda: zip(X, Y, strict=True),
        epochs=6,
        eval_iter=lambda: zip(tX, tY, strict=True),
        eval_fn=_eval_fn(api),
        on_epoch_end=lambda epoch, metrics: seen.append(epoch),
    )
    assert isinstance(history, list) and len(history) == 6 and seen == list(range(6))
    assert set(history[0]) == {"train_loss", "eval_acc", "eval_loss"}
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    trained = history.model
    if api == "nnx":
        assert trained is model  # trained in place, as in spyx 1.0
    changed = [
        not np.array_equal(a, b) for a, b in zip(before, _params(trained), strict=True)
    ]
    assert all(changed)


@pytest.mark.parametrize("api", APIS)
def test_fit_refuses_what_it_cannot_run(api):
    model, (X, Y) = _model(api), _data(1)
    loss_fn, tx = _loss_fn(api), optax.adam(1e-3)
    with pytest.raises(RuntimeError, match=r"yielded no batches at epoch 0"):
        opt.fit(model, tx, loss_fn, lambda: iter(()), epochs=1)
    with pytest.raises(ValueError, match=r"`eval_fn` is required"):
        opt.fit(model, tx, loss_fn, lambda: [(X[0], Y[0])], epochs=1, eval_iter=list)
    with pytest.raises(TypeError, match=r"zero-argument callable"):
        opt.fit(model, tx, loss_fn, [(X[0], Y[0])], epochs=1)
    with pytest.raises(TypeError, match=r"Flax NNX or an Equinox module"):
        opt.fit(lambda x: x, tx, loss_fn, lambda: [], epochs=1)


@pytest.mark.parametrize("api", APIS)
def test_compile_fit_runs_the_whole_loop_in_one_function(api):
    model = _model(api)
    X, Y = _data(4)
    tX, tY = _data(2, seed=1)
    run = _run(api)
    trained, history = opt.compile_fit(
        model,
        optax.adam(2e-2),
        _loss_fn(api),
        (X, Y),
        epochs=12,
        eval_data=(tX, tY),
        metric_fn=lambda m, x, y: ACC(run(m, x)[0], y)[0],
    )
    assert history["train_loss"].shape == (12,)
    assert history["eval_metric"].shape == (12,)
    assert float(history["train_loss"][-1]) < float(history["train_loss"][0])
    assert type(trained) is type(model)
    # the model passed in is not changed; the trained one is returned
    final_loss = float(_loss_fn(api)(trained, X[0], Y[0]))
    assert final_loss < float(_loss_fn(api)(model, X[0], Y[0]))
    with pytest.raises(ValueError, match=r"metric_fn is required"):
        opt.compile_fit(
            model, optax.adam(1e-3), _loss_fn(api), (X, Y), epochs=1, eval_data=(tX, tY)
        )
    with pytest.raises(ValueError, match=r"same leading number of batches"):
        opt.compile_fit(model, optax.adam(1e-3), _loss_fn(api), (X, Y[:2]), epochs=1)


def _random_search(sigma):
    """A gradient-free Solver: keep a random perturbation when it lowers the
    loss (what spyx 1.0's evolutionary solvers plug in the same way)."""

    def build(loss_flat, params0):
        def init(key):
            return params0, jnp.asarray(jnp.inf)

        def step(state, batch, key):
            params, best = state
            leaves, tree = jax.tree.flatten(params)
            keys = jax.random.split(key, len(leaves))
            trial = jax.tree.unflatten(
                tree,
                [
                    p + sigma * jax.random.normal(k, p.shape)
                    for p, k in zip(leaves, keys, strict=True)
                ],
            )
            best = jnp.minimum(best, loss_flat(params, batch))
            new = loss_flat(trial, batch)
            better = new < best
            params = jax.tree.map(lambda a, b: jnp.where(better, b, a), params, trial)
            return (params, jnp.minimum(best, new)), jnp.minimum(best, new)

        return opt.SolverImpl(init, step, lambda state: state[0])

    return build


@pytest.mark.parametrize("api", APIS)
def test_compile_fit_with_a_gradient_free_solver(api):
    X, Y = _data(2)
    run = _run(api)

    def loss_fn(m, x, y):
        return CE(run(m, x)[0], y)

    _, history = opt.compile_fit(
        _model(api),
        _random_search(0.05),
        loss_fn,
        (X, Y),
        epochs=10,
        key=jax.random.key(1),
    )
    assert float(history["train_loss"][-1]) <= float(history["train_loss"][0])
