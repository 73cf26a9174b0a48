"""Benchmark helpers: latency, throughput, spike rate, memory and compile time.

`benchmark` times the forward pass and the training step (forward and
backward) of a model over a random spike input, reporting medians over
repeated runs; `compare` repeats it over sequence lengths; `format_table`
renders the results. Works with `spyx.nn` models, `spyx_eqx` models, and
plain functions of the input.

Example:

```python
rngs = nnx.Rngs(0)
model = spyx.nn.Sequential(
    nnx.Linear(700, 128, rngs=rngs), spyx.nn.LIF((128,), rngs=rngs)
)
result = spyx.bench.benchmark(model, (700,), seq_len=100, batch=64)
print(spyx.bench.format_table([result]))
```
"""

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array

if TYPE_CHECKING:
    from .core import StatefulLayer

__all__ = ["BenchResult", "benchmark", "compare", "format_table"]


@dataclass(frozen=True)
class BenchResult:
    """One benchmark.

    Attributes:
        name: label of the model.
        seq_len: time steps of the input ``[seq_len, batch, ...]``.
        batch: batch size of the input.
        forward_ms: median wall time of the forward pass.
        train_ms: median wall time of forward + backward (gradient w.r.t.
            every parameter and the input).
        throughput: examples per second through the training step.
        spike_rate: mean spikes per neuron per step over the spiking layers
            (``None`` when the model has none).
        peak_memory_bytes: peak device memory as reported by the backend
            (``None`` where it reports none, e.g. on CPU).
        temp_memory_bytes: XLA's compiled estimate of the training step's
            temporary buffers (every backend).
        compile_s: seconds to lower and compile the training step.
        extra: anything else the caller wants to carry.
    """

    name: str
    seq_len: int
    batch: int
    forward_ms: float
    train_ms: float
    throughput: float
    spike_rate: float | None
    peak_memory_bytes: int | None
    temp_memory_bytes: int | None
    compile_s: float
    extra: dict = field(default_factory=dict)


def _pure(model: Any, batch: int) -> tuple[Callable[[Any, Array], Array], Any, str]:
    """A pure ``f(params, x) -> outputs`` for an NNX model, an Equinox model or
    a function, with its parameters and a default name."""
    from flax import nnx  # imported here so that `import spyx.bench` stays light

    name = type(model).__name__
    if isinstance(model, nnx.Module):
        import spyx.nn

        graphdef, params = nnx.split(model)

        def f_nnx(p: Any, x: Array) -> Array:
            merged = cast("StatefulLayer", nnx.merge(graphdef, p))  # a spyx model
            return spyx.nn.run(merged, x)[0]

        return f_nnx, params, name
    import equinox as eqx

    if isinstance(model, eqx.Module) and hasattr(model, "initial_state"):
        import spyx_eqx

        params, static = eqx.partition(model, eqx.is_array)
        state = cast("StatefulLayer", model).initial_state(batch)

        def f_eqx(p: Any, x: Array) -> Array:
            return spyx_eqx.run(eqx.combine(p, static), x, state)[0]

        return f_eqx, params, name
    if callable(model):
        fn = cast(Callable[[Array], Array], model)
        return (lambda p, x: fn(x)), (), getattr(model, "__name__", name)
    raise TypeError(f"benchmark: cannot run a {name}; pass a spyx model or a function.")


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def _spike_rate(model: Any, x: Array, batch: int) -> float | None:
    """Mean output of every spiking layer (one with a threshold) in a model;
    ``None`` for a plain function or a model without spiking layers."""
    if not hasattr(model, "initial_state"):
        return None
    layers = getattr(model, "layers", [model])
    rates = []
    for i, layer in enumerate(layers):
        if not hasattr(layer, "threshold"):
            continue
        prefix = type(model)(*layers[: i + 1]) if hasattr(model, "layers") else layer
        f, params, _ = _pure(prefix, batch)
        rates.append(float(jnp.mean(jax.jit(f)(params, x))))
    return float(np.mean(rates)) if rates else None


def benchmark(
    module_or_thunk: Any,
    input_shape: Sequence[int],
    *,
    seq_len: int,
    batch: int,
    repeats: int = 10,
    input_rate: float = 0.2,
    seed: int = 0,
    name: str | None = None,
) -> BenchResult:
    """Time a model's forward pass and training step over a spike input.

    Args:
        module_or_thunk: a `spyx.nn` model (run with `spyx.nn.run`), a
            `spyx_eqx` model (run with `spyx_eqx.run` from a batched zero state),
            or a function ``x -> outputs`` of the time-major input.
        input_shape: per-step feature shape, e.g. ``(700,)``.
        seq_len: time steps; the input is ``[seq_len, batch, *input_shape]``,
            Bernoulli spikes with probability `input_rate`.
        batch: batch size of the input.
        repeats: timed runs per measurement (the median is reported), after
            one untimed warm-up run.
        seed: seed of the input.
        name: label; default the model's class or function name.

    Returns:
        a `BenchResult`. The training step is
            ``value_and_grad(sum(outputs ** 2))`` w.r.t. the parameters and input.

    Example: ``spyx.bench.benchmark(model, (700,), seq_len=100, batch=64)``.
    """
    f, params, default_name = _pure(module_or_thunk, batch)
    key = jax.random.key(seed)
    x = jax.random.bernoulli(key, input_rate, (seq_len, batch, *input_shape)).astype(
        jnp.float32
    )

    def loss(p: Any, x: Array) -> Array:
        return jnp.sum(f(p, x) ** 2)

    forward = jax.jit(f)
    start = time.perf_counter()
    train = jax.jit(jax.value_and_grad(loss, argnums=(0, 1))).lower(params, x).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(forward(params, x))
    jax.block_until_ready(train(params, x))
    forward_ms = _median_ms(lambda: forward(params, x), repeats)
    train_ms = _median_ms(lambda: train(params, x), repeats)

    temp = None
    analysis = train.memory_analysis()
    if analysis is not None:
        temp = int(getattr(analysis, "temp_size_in_bytes", 0)) or None
    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return BenchResult(
        name=name or default_name,
        seq_len=seq_len,
        batch=batch,
        forward_ms=forward_ms,
        train_ms=train_ms,
        throughput=batch / (train_ms / 1e3),
        spike_rate=_spike_rate(module_or_thunk, x, batch),
        peak_memory_bytes=int(peak) if peak is not None else None,
        temp_memory_bytes=temp,
        compile_s=compile_s,
    )


def compare(
    module_or_thunk: Any,
    input_shape: Sequence[int],
    *,
    seq_lens: Sequence[int],
    batch: int,
    **kwargs: Any,
) -> list[BenchResult]:
    """`benchmark` at each sequence length in `seq_lens`.

    Example: ``compare(model, (700,), seq_lens=[100, 1000], batch=16)``.
    """
    return [
        benchmark(module_or_thunk, input_shape, seq_len=t, batch=batch, **kwargs)
        for t in seq_lens
    ]


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:.1f}"


def format_table(
    results: Sequence[BenchResult], reference: BenchResult | None = None
) -> str:
    """A Markdown table of benchmark results.

    A Markdown table of results; with `reference`, the ratios of the
    training-step time to it.

    Example: ``print(format_table(results, reference=results[0]))``.
    """
    head = (
        "| name | T | B | forward ms | train ms | "
        + ("x ref | " if reference else "")
        + "examples/s | spike rate | peak MiB | temp MiB | compile s |"
    )
    rule = "|" + "---|" * (head.count("|") - 1)
    rows = [head, rule]
    for r in results:
        ratio = f"{r.train_ms / reference.train_ms:.2f} | " if reference else ""
        rate = "-" if r.spike_rate is None else f"{r.spike_rate:.3f}"
        rows.append(
            f"| {r.name} | {r.seq_len} | {r.batch} | {r.forward_ms:.2f} | "
            f"{r.train_ms:.2f} | {ratio}{r.throughput:.0f} | {rate} | "
            f"{_mib(r.peak_memory_bytes)} | {_mib(r.temp_memory_bytes)} | "
            f"{r.compile_s:.2f} |"
        )
    return "\n".join(rows)
