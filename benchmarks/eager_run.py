"""The cost of an eager `run` (no jit of one's own, as in a notebook) against
the same call inside the user's `jit`, in both APIs.

The model is Linear(F, H) -> LIF -> Linear(H, 20) -> LI. `run` compiles itself
once per model structure, input shape and options and reuses that, so after
the first call an eager call should cost about what a jitted one does. Rows:
the first call (tracing and compiling included) and the median of later
calls, eager and jitted, and their ratio.

    python benchmarks/eager_run.py [--repeats 30]
"""

import argparse
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp
from flax import nnx

import spyx.nn as snn
import spyx_eqx

SHAPES = [(100, 16, 64, 128), (500, 32, 700, 256)]  # T, B, F, H


def nnx_model(F: int, H: int) -> snn.Sequential:
    rngs = nnx.Rngs(0)
    return snn.Sequential(
        nnx.Linear(F, H, rngs=rngs),
        snn.LIF((H,), rngs=rngs),
        nnx.Linear(H, 20, rngs=rngs),
        snn.LI((20,)),
    )


def seconds(fn, *args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}")
    print(
        "| API | T, B, F, H | first call ms | eager ms | jitted ms | eager / jitted |"
    )
    print("|---|---|---|---|---|---|")
    for T, B, F, H in SHAPES:
        x = jax.random.bernoulli(jax.random.key(0), 0.1, (T, B, F)).astype(jnp.float32)
        model = nnx_model(F, H)
        apis = {
            "spyx.nn": (snn.run, nnx.jit(snn.run), model),
            "spyx_eqx": (
                spyx_eqx.run,
                eqx.filter_jit(spyx_eqx.run),
                spyx_eqx.from_nnx(model),
            ),
        }
        for name, (eager, jitted, m) in apis.items():
            first = seconds(eager, m, x)
            seconds(jitted, m, x)  # compile the user's jit once
            eager_times, jit_times = [], []
            for _ in range(args.repeats):  # round-robin, so drift hits both
                eager_times.append(seconds(eager, m, x))
                jit_times.append(seconds(jitted, m, x))
            e, j = statistics.median(eager_times), statistics.median(jit_times)
            print(
                f"| {name} | {T}, {B}, {F}, {H} | {first * 1e3:.0f} | "
                f"{e * 1e3:.2f} | {j * 1e3:.2f} | {e / j:.2f} |"
            )


if __name__ == "__main__":
    main()
