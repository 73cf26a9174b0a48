"""Memory-bounded BPTT: peak memory and time of a T=10,000 training step with
and without checkpointing, from one process.

Network Linear(64, 128) -> LIF -> Linear(128, 10) -> LI, B=8, loss = integral
cross-entropy. Memory is XLA's compiled estimate of the training step's
temporary buffers (`compiled.memory_analysis()`, available on every
backend); where the device reports its peak (GPU), that is printed too.

    python benchmarks/bptt_memory.py
"""

import argparse

import jax
import jax.numpy as jnp
from flax import nnx
from harness import timed

import spyx
import spyx.nn as snn

B, F, H = 8, 64, 128


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    T = args.steps
    rngs = nnx.Rngs(0)
    model = snn.Sequential(
        nnx.Linear(F, H, rngs=rngs),
        snn.LIF((H,), rngs=rngs),
        nnx.Linear(H, 10, rngs=rngs),
        snn.LI((10,)),
    )
    graphdef, params = nnx.split(model)
    x = jax.random.bernoulli(jax.random.key(0), 0.1, (T, B, F)).astype(jnp.float32)
    y = jax.random.randint(jax.random.key(1), (B,), 0, 10)
    ce = spyx.fn.integral_crossentropy(time_axis=0)
    print(
        f"jax {jax.__version__} on {jax.devices()[0].device_kind}, T={T}, "
        f"median of {args.repeats} runs\n"
    )
    print(
        "| mode | checkpoint | temp MiB | x plain | median ms | x plain | compile s |"
    )
    print("|---|---|---|---|---|---|---|")
    for layerwise in (False, True):
        base = None
        for ckpt in (None, 100):

            def loss(p, x, ckpt=ckpt, layerwise=layerwise):
                out, _ = snn.run(
                    nnx.merge(graphdef, p), x, layerwise=layerwise, checkpoint=ckpt
                )
                return ce(out, y)

            grad = jax.grad(loss)
            ms, compile_s = timed(grad, (params, x), args.repeats)
            mem = jax.jit(grad).lower(params, x).compile().memory_analysis()
            mib = mem.temp_size_in_bytes / 2**20
            base = base or (mib, ms)
            mode = "layer-wise" if layerwise else "whole-net scan"
            print(
                f"| {mode} | {ckpt or '-'} | {mib:.1f} | {mib / base[0]:.2f} | "
                f"{ms:.1f} | {ms / base[1]:.2f} | {compile_s:.2f} |",
                flush=True,
            )
    stats = jax.devices()[0].memory_stats()
    if stats and "peak_bytes_in_use" in stats:
        print(f"\ndevice peak: {stats['peak_bytes_in_use'] / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
