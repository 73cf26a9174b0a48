"""PSU_LIF: the parallel path against the sequential scan, from one process.

For each T, forward + backward of ``sum(spikes ** 2)`` w.r.t. the input and
beta, for B=16, H=256:

- sequential: spyx.nn.run over PSU_LIF.__call__ (one step per scan iteration);
- parallel(method="associative"): jax.lax.associative_scan over time;
- parallel(method="sequential"): the leaky recurrence as a lax.scan;
- parallel() (auto): what `parallel` picks on this backend.

Ratios are against the sequential scan measured in the same run.

    python benchmarks/psu_parallel.py
"""

import argparse

import jax
import jax.numpy as jnp
from flax import nnx
from harness import timed

import spyx.nn as snn

B, H = 16, 256


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--lengths", type=int, nargs="+", default=[256, 4096, 16384])
    args = p.parse_args()
    print(
        f"jax {jax.__version__} on {jax.devices()[0].device_kind}, backend "
        f"{jax.default_backend()}, median of {args.repeats} runs\n"
    )
    print("| T | variant | median ms | x sequential scan | compile s |")
    print("|---|---|---|---|---|")
    layer = snn.PSU_LIF((H,), rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(layer)

    def loss(kind):
        def f(p, x):
            m = nnx.merge(graphdef, p)
            if kind == "scan":
                s = snn.run(m, x)[0]
            else:
                s = m.parallel(x, method=kind)
            return jnp.sum(s**2)

        return jax.grad(f, argnums=(0, 1))

    for T in args.lengths:
        x = jax.random.uniform(jax.random.key(T), (T, B, H), minval=-0.2, maxval=0.6)
        ref = None
        for kind, label in [
            ("scan", "sequential scan of __call__"),
            ("associative", 'parallel(method="associative")'),
            ("sequential", 'parallel(method="sequential")'),
            ("auto", "parallel() (auto)"),
        ]:
            ms, compile_s = timed(loss(kind), (params, x), args.repeats)
            ref = ref or ms
            print(
                f"| {T} | {label} | {ms:.2f} | {ms / ref:.2f} | {compile_s:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
