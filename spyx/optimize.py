"""Training loops with spyx 1.0's names, for Flax NNX and Equinox models.

- `make_train_step` / `make_eval_step`: one compiled update / evaluation.
- `fit`: a Python loop over epochs that calls the compiled step per batch.
- `compile_fit`: the whole loop (epochs x batches) as one compiled
  function over data staged on the device, with a pluggable `Solver`
  (`backprop` for gradient descent, or gradient-free ones of your own).

Every helper takes either kind of model. NNX modules are updated in place,
as in spyx 1.0; Equinox modules are immutable, so where the two forms
differ the Equinox one returns the new model:

- `make_train_step(loss_fn, tx=None)`: for NNX (spyx 1.0's form)
  ``step(model, optimizer, *batch) -> loss`` with an `nnx.Optimizer`; for
  Equinox pass `tx`, and ``step(model, opt_state, *batch) -> (loss, model,
  opt_state)`` with ``opt_state = tx.init(eqx.filter(model,
  eqx.is_inexact_array))``.
- `make_eval_step(metric_fn)`: ``step(model, *batch)`` for both.
- `fit(...)`: trains an NNX model in place; for both it returns the
  `History`, whose ``history.model`` is the trained model (the new one for
  Equinox).
- `compile_fit(...)`: ``(trained_model, history)`` for both.

Only floating-point parameters are trained: `nnx.Param` in NNX, the inexact
arrays of an Equinox model (neither includes a neuron's threshold, a float
hyperparameter).

Example (NNX):

```python
import jax.numpy as jnp
import optax
from flax import nnx
import spyx.fn, spyx.nn as snn, spyx.optimize

model = snn.Sequential(
    nnx.Linear(4, 8, rngs=nnx.Rngs(0)), snn.LIF((8,), rngs=nnx.Rngs(1)),
    nnx.Linear(8, 3, rngs=nnx.Rngs(2)), snn.LI((3,)),
)
x, y = jnp.ones((10, 16, 4)), jnp.zeros(16, jnp.int32)  # [T, B, 4], [B]
loss = spyx.fn.integral_crossentropy(time_axis=0)


def loss_fn(model, x, y):
    return loss(snn.run(model, x)[0], y)


history = spyx.optimize.fit(
    model, optax.adam(1e-2), loss_fn, lambda: [(x, y)], epochs=3
)
print([round(h["train_loss"], 3) for h in history])
```

Example (Equinox): the same network, unbatched modules mapped over the
batch, trained by `compile_fit` as one compiled loop over staged batches.

```python
import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import spyx.fn, spyx.optimize, spyx_eqx

k = jax.random.split(jax.random.key(0), 3)
model = spyx_eqx.Sequential(
    eqx.nn.Linear(4, 8, key=k[0]), spyx_eqx.LIF((8,), key=k[1]),
    eqx.nn.Linear(8, 3, key=k[2]), spyx_eqx.LI((3,)),
)
loss = spyx.fn.integral_crossentropy(time_axis=0)


def loss_fn(model, x, y):
    return loss(spyx_eqx.run(model, x)[0], y)


X = jnp.ones((2, 10, 16, 4))  # two staged batches of [T, B, 4]
Y = jnp.zeros((2, 16), jnp.int32)
model, history = spyx.optimize.compile_fit(
    model, optax.adam(1e-2), loss_fn, (X, Y), epochs=3
)
print(history["train_loss"].shape)  # (3,): one mean loss per epoch
```
"""

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, cast

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from flax import nnx

__all__ = [
    "History",
    "Solver",
    "SolverImpl",
    "backprop",
    "compile_fit",
    "fit",
    "make_eval_step",
    "make_train_step",
]


class History(list):
    """The per-epoch metrics `fit` returns, and the trained model.

    What `fit` returns: one dict of metrics per epoch (``train_loss``, and
    ``eval_acc`` / ``eval_loss`` when evaluating), as in spyx 1.0, and the
    trained model as ``history.model`` (the same object for NNX; the new one
    for Equinox, whose modules do not change in place)."""

    model: Any = None


class SolverImpl(NamedTuple):
    """The three pure functions a `Solver` gives `compile_fit`.

    Attributes:
        init: ``key -> state``, the optimiser's state at the start.
        step: ``(state, batch, key) -> (state, metric)``, one update; the
            scalar `metric` (a loss, a best fitness) is averaged per epoch into
            ``history["train_loss"]``.
        get_params: ``state -> params``, the current parameters.
    """

    init: Callable[[jax.Array], Any]
    step: Callable[[Any, tuple, jax.Array], tuple[Any, jax.Array]]
    get_params: Callable[[Any], Any]


Solver = Callable[[Callable[[Any, tuple], jax.Array], Any], SolverImpl]
"""A solver builder, ``(loss_flat, params0) -> SolverImpl``: `compile_fit`
hands it the loss as a function of the parameters and a batch,
``loss_flat(params, batch) -> scalar``, and the initial parameters. A solver
passes each batch it is given to `loss_flat` as it is (it also carries the
model's variables other than parameters)."""


def _is_nnx(model: Any) -> bool:
    return isinstance(model, nnx.Module)


def _check_model(where: str, model: Any) -> None:
    if not (_is_nnx(model) or isinstance(model, eqx.Module)):
        raise TypeError(
            f"{where}: `model` must be a Flax NNX or an Equinox module, got "
            f"{type(model).__name__}."
        )


def _as_batch(batch: Any) -> tuple:
    """A batch as the positional arguments after the model (a tuple, such as
    spyx 1.0's loaders' ``State(obs, labels)``, is spread)."""
    return batch if isinstance(batch, tuple) else (batch,)


def _trainable(model: Any) -> Any:
    """An Equinox model's trained leaves: its floating-point arrays."""
    return eqx.filter(model, eqx.is_inexact_array)


def make_train_step(
    loss_fn: Callable[..., jax.Array],
    tx: optax.GradientTransformation | None = None,
) -> Callable[..., Any]:
    """A compiled training step for ``loss_fn(model, *batch) -> scalar``.

    Args:
        loss_fn: the loss of a model on one batch.
        tx: the Optax transformation, for Equinox models only (an
            `nnx.Optimizer` carries its own).

    Returns:
        ``step(model, optimizer, *batch) -> loss`` for an NNX model (the
            model and the `nnx.Optimizer` are updated in place, as in spyx
            1.0), ``step(model, opt_state, *batch) -> (loss, model, opt_state)``
            for an Equinox model.

    Example: ``step = make_train_step(loss_fn)``, then
    ``loss = step(model, nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param),
    x, y)``.
    """

    @nnx.jit
    def nnx_step(model: Any, optimizer: Any, *batch: Any) -> jax.Array:
        loss, grads = nnx.value_and_grad(lambda m: loss_fn(m, *batch))(model)
        optimizer.update(model, grads)
        return loss

    @eqx.filter_jit
    def eqx_step(model: Any, opt_state: Any, *batch: Any) -> tuple:
        loss, grads = eqx.filter_value_and_grad(lambda m: loss_fn(m, *batch))(model)
        assert tx is not None  # `step` refuses an Equinox model without `tx`
        updates, opt_state = tx.update(grads, opt_state, _trainable(model))
        return loss, eqx.apply_updates(model, updates), opt_state

    def step(model: Any, optimizer: Any, *batch: Any) -> Any:
        _check_model("train step", model)
        if _is_nnx(model):
            if not isinstance(optimizer, nnx.Optimizer):
                raise TypeError(
                    f"train step: an NNX model is trained with an nnx.Optimizer "
                    f"(nnx.Optimizer(model, tx, wrt=nnx.Param)), got "
                    f"{type(optimizer).__name__}."
                )
            return nnx_step(model, optimizer, *batch)
        if tx is None:
            raise TypeError(
                "train step: an Equinox model needs the Optax transformation: build "
                "the step with make_train_step(loss_fn, tx) and call it as "
                "step(model, opt_state, *batch) -> (loss, model, opt_state)."
            )
        return eqx_step(model, optimizer, *batch)

    return step


def make_eval_step(
    metric_fn: Callable[..., Any],
) -> Callable[..., Any]:
    """A compiled evaluation step.

    A compiled evaluation step: ``step(model, *batch) -> metric_fn(model,
    *batch)`` (e.g. ``(accuracy, loss)``), for NNX and Equinox models.

    Example: ``acc, loss = make_eval_step(eval_fn)(model, x, y)``.
    """
    nnx_step = nnx.jit(lambda model, *batch: metric_fn(model, *batch))
    eqx_step = eqx.filter_jit(lambda model, *batch: metric_fn(model, *batch))

    def step(model: Any, *batch: Any) -> Any:
        _check_model("eval step", model)
        return (nnx_step if _is_nnx(model) else eqx_step)(model, *batch)

    return step


def _epoch_batches(where: str, source: Any, epoch: int) -> Iterable:
    if not callable(source):
        raise TypeError(
            f"fit: `{where}` must be a zero-argument callable that returns the "
            f"batches of one epoch (e.g. loader.train_epoch, or lambda: batches), "
            f"got {type(source).__name__}."
        )
    return cast(Iterable, source())


def _mean(values: list, where: str, epoch: int) -> float:
    if not values:
        raise RuntimeError(
            f"fit(): {where}() yielded no batches at epoch {epoch}; check that "
            f"the data set holds at least one batch."
        )
    return float(jnp.mean(jnp.stack([jnp.asarray(v) for v in values])))


def fit(
    model: Any,
    tx: optax.GradientTransformation,
    loss_fn: Callable[..., jax.Array],
    train_iter: Callable[[], Iterable[tuple[Any, ...]]],
    *,
    epochs: int,
    eval_iter: Callable[[], Iterable[tuple[Any, ...]]] | None = None,
    eval_fn: Callable[..., tuple[jax.Array, jax.Array]] | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> History:
    """Train `model` for `epochs` passes over ``train_iter()``.

    Args:
        model: a Flax NNX module (trained in place) or an Equinox module.
        tx: the Optax transformation, e.g. ``optax.adam(1e-3)``.
        loss_fn: ``(model, *batch) -> scalar``.
        train_iter: a zero-argument callable returning one epoch's batches
            (spyx 1.0's ``loader.train_epoch``); a batch that is a tuple is
            spread into `loss_fn`'s arguments.
        epochs: the number of epochs.
        eval_iter: like `train_iter`, for evaluation after each epoch.
        eval_fn: ``(model, *batch) -> (accuracy, loss)``; needed with
            `eval_iter`.
        on_epoch_end: called as ``on_epoch_end(epoch, metrics)`` after each
            epoch.

    Returns:
        the `History`: per epoch ``{"train_loss": ...}`` plus ``"eval_acc"``
            and ``"eval_loss"`` when evaluating (means over the batches); the
            trained model is ``history.model``.

    Raises:
        RuntimeError: an epoch with no batches.
        ValueError: `eval_iter` without `eval_fn`, or negative `epochs`.
    """
    _check_model("fit", model)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: `epochs` must be an integer >= 0, got {epochs!r}.")
    if eval_iter is not None and eval_fn is None:
        raise ValueError("fit: `eval_fn` is required when `eval_iter` is given.")
    step = make_train_step(loss_fn, tx)
    evaluate = make_eval_step(eval_fn) if eval_fn is not None else None
    if _is_nnx(model):
        state: Any = nnx.Optimizer(model, tx, wrt=nnx.Param)
    else:
        state = tx.init(_trainable(model))
    history = History()
    for epoch in range(epochs):
        losses = []
        for batch in _epoch_batches("train_iter", train_iter, epoch):
            if _is_nnx(model):
                losses.append(step(model, state, *_as_batch(batch)))
            else:
                loss, model, state = step(model, state, *_as_batch(batch))
                losses.append(loss)
        metrics = {"train_loss": _mean(losses, "train_iter", epoch)}
        if eval_iter is not None and evaluate is not None:
            accs, eval_losses = [], []
            for batch in _epoch_batches("eval_iter", eval_iter, epoch):
                acc, loss = evaluate(model, *_as_batch(batch))
                accs.append(acc)
                eval_losses.append(loss)
            metrics["eval_acc"] = _mean(accs, "eval_iter", epoch)
            metrics["eval_loss"] = _mean(eval_losses, "eval_iter", epoch)
        history.append(metrics)
        if on_epoch_end is not None:
            on_epoch_end(epoch, metrics)
    history.model = model
    return history


def backprop(tx: optax.GradientTransformation) -> Solver:
    """Gradient descent as a `Solver` for `compile_fit`.

    Gradient descent with `tx` as a `Solver` for `compile_fit` (what an
    Optax transformation passed to `compile_fit` becomes).

    Example: ``compile_fit(model, backprop(optax.adam(1e-3)), loss_fn, data,
    epochs=10)``.
    """

    def build(loss_flat: Callable[[Any, tuple], jax.Array], params0: Any) -> SolverImpl:
        def init(key: jax.Array) -> Any:
            return params0, tx.init(params0)

        def step(state: Any, batch: tuple, key: jax.Array) -> tuple:
            params, opt_state = state
            loss, grads = jax.value_and_grad(loss_flat)(params, batch)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        return SolverImpl(init, step, lambda state: state[0])

    return build


def _staged(name: str, data: Any) -> tuple:
    """Staged data: a tuple of arrays sharing the leading batch-count axis."""
    if not isinstance(data, tuple | list) or not data:
        raise TypeError(
            f"compile_fit: `{name}` must be a tuple of arrays such as (X, Y), each "
            f"[n_batches, batch, ...], got {type(data).__name__}."
        )
    leaves = [jnp.asarray(a) for a in data]
    counts = {a.shape[0] if a.ndim else None for a in leaves}
    if len(counts) != 1 or None in counts or 0 in counts:
        raise ValueError(
            f"compile_fit: every array of `{name}` needs the same leading number "
            f"of batches (> 0), got shapes {[tuple(a.shape) for a in leaves]}."
        )
    return tuple(leaves)


def compile_fit(
    model: Any,
    solver: Solver | optax.GradientTransformation,
    loss_fn: Callable[..., jax.Array],
    train_data: tuple[Any, ...],
    *,
    epochs: int,
    eval_data: tuple[Any, ...] | None = None,
    metric_fn: Callable[..., jax.Array] | None = None,
    key: jax.Array | None = None,
) -> tuple[Any, dict[str, jax.Array]]:
    """The whole training loop, epochs x batches, as one compiled function.

    The data is staged on the device: each array of `train_data` is
    ``[n_batches, batch, ...]`` (stack a loader's batches once), and
    `jax.lax.scan` runs over batches within epochs, so a whole run is one
    dispatch with no Python per step.

    Args:
        model: a Flax NNX or an Equinox module (not changed; the trained one
            is returned).
        solver: a `Solver`, or an Optax transformation (then `backprop`).
        loss_fn: ``(model, *batch) -> scalar``.
        train_data: ``(X, Y, ...)``, each ``[n_batches, batch, ...]``.
        epochs: the number of passes over `train_data`.
        eval_data: held-out data staged the same way, scored with
            `metric_fn` after each epoch (the mean over its batches).
        metric_fn: ``(model, *batch) -> scalar``, e.g. an accuracy.
        key: the PRNG key the solver's ``init`` and ``step`` receive (split
            per step); default ``jax.random.key(0)``.

    Returns:
        ``(trained_model, history)`` with ``history["train_loss"]`` (the mean
            step metric per epoch, ``[epochs]``) and, with `eval_data`,
            ``history["eval_metric"]``.

    Example: ``model, history = compile_fit(model, optax.adam(1e-3), loss_fn,
    (X, Y), epochs=20)``.
    """
    _check_model("compile_fit", model)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(
            f"compile_fit: `epochs` must be an integer >= 1, got {epochs!r}."
        )
    if eval_data is not None and metric_fn is None:
        raise ValueError("compile_fit: metric_fn is required when eval_data is given.")
    train_data = _staged("train_data", train_data)
    if eval_data is not None:
        eval_data = _staged("eval_data", eval_data)
    # An NNX model's other variables (a dropout's RNG state, batch
    # statistics) are carried from step to step: the solver sees them as
    # part of each batch, ``(variables, *batch)``, and they advance once per
    # step as one forward pass of the loss on that batch moves them.
    if _is_nnx(model):
        graphdef, params0, variables0 = nnx.split(model, nnx.Param, ...)

        def rebuild(params: Any, variables: Any) -> Any:
            # fresh Variables, owned by the trace that runs the loss (which
            # mutates them): not the carry's, made by an outer scan
            return nnx.merge(graphdef, params, jax.tree.map(lambda v: v, variables))

        def advance(params: Any, variables: Any, batch: tuple) -> Any:
            moved = rebuild(params, variables)
            loss_fn(moved, *batch)
            return nnx.state(moved, nnx.Not(nnx.Param))
    else:
        params0, static = eqx.partition(model, eqx.is_inexact_array)
        variables0 = None

        def rebuild(params: Any, variables: Any) -> Any:
            return eqx.combine(params, static)

        def advance(params: Any, variables: Any, batch: tuple) -> Any:
            return variables

    moving = bool(jax.tree.leaves(variables0))

    def loss_flat(params: Any, batch: tuple) -> jax.Array:
        variables, *data = batch
        return loss_fn(rebuild(params, variables), *data)

    if isinstance(solver, optax.GradientTransformation):
        solver = backprop(solver)
    impl = solver(loss_flat, params0)

    @jax.jit
    def run(key: jax.Array) -> tuple:
        init_key, loop_key = jax.random.split(key)

        def step(carry: tuple, batch: tuple) -> tuple:
            state, key, variables = carry
            key, sub = jax.random.split(key)
            before = impl.get_params(state)
            state, metric = impl.step(state, (variables, *batch), sub)
            if moving:
                variables = advance(before, variables, batch)
            return (state, key, variables), metric

        def epoch(carry: tuple, _: Any) -> tuple:
            carry, metrics = jax.lax.scan(step, carry, train_data)
            record = {"train_loss": jnp.mean(metrics)}
            if eval_data is not None and metric_fn is not None:  # both, or neither
                trained = rebuild(impl.get_params(carry[0]), carry[2])
                score = metric_fn
                scores = jax.lax.map(lambda b: score(trained, *b), eval_data)
                record["eval_metric"] = jnp.mean(scores)
            return carry, record

        carry = (impl.init(init_key), loop_key, variables0)
        (state, _, variables), history = jax.lax.scan(epoch, carry, None, length=epochs)
        return impl.get_params(state), variables, history

    params, variables, history = run(jax.random.key(0) if key is None else key)
    return rebuild(params, variables), history
