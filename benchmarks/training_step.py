"""Training-step cost of Linear(700, H) -> LIF -> Linear(H, 20) -> LI with an
integral cross-entropy, against the matmul floor, from one process.

Rows, for each shape (T, B, H):

- floor: the same matmuls and spike function with no recurrence at all;
- whole-net scan: spyx.nn.run(..., layerwise=False), every layer in one scan;
- spyx.nn layer-wise: spyx.nn.run (default);
- spyx_eqx layer-wise: the Equinox twin (spyx_eqx.from_nnx) with spyx_eqx.run;
- spyx.nn layer-wise, reset="zero" / "none": the LIF in the other reset
  modes (the same sequence kernel, with its backward pass for that mode).

Each time is the median of forward + backward over `--repeats` runs, the
variants timed round-robin; ratios are against the floor measured in the same
run. Compile time is the
lower-and-compile time of the jitted training step.

    python benchmarks/training_step.py
"""

import argparse

import equinox as eqx
import jax
import jax.numpy as jnp
from flax import nnx
from harness import compile_, interleaved

import spyx
import spyx.nn as snn
import spyx_eqx

SHAPES = [(100, 64, 128), (1000, 16, 256)]


def network(hidden: int, reset: str = "subtract") -> snn.Sequential:
    rngs = nnx.Rngs(0)
    return snn.Sequential(
        nnx.Linear(700, hidden, rngs=rngs),
        snn.LIF((hidden,), reset=reset, rngs=rngs),
        nnx.Linear(hidden, 20, rngs=rngs),
        snn.LI((20,)),
    )


def cases(T, B, H):
    x = jax.random.bernoulli(jax.random.key(0), 0.1, (T, B, 700)).astype(jnp.float32)
    y = jax.random.randint(jax.random.key(1), (B,), 0, 20)
    ce = spyx.fn.integral_crossentropy(time_axis=0)
    model = network(H)
    graphdef, params = nnx.split(model)
    spike = spyx.axn.superspike()

    def floor(p, x):
        lin1, lin2 = p["layers"][0], p["layers"][2]
        h = x @ lin1["kernel"][...] + lin1["bias"][...]
        s = spike(h - 1.0)
        out = s @ lin2["kernel"][...] + lin2["bias"][...]
        return ce(out, y)

    def nnx_loss(layerwise, graphdef=graphdef):
        def loss(p, x):
            out, _ = snn.run(nnx.merge(graphdef, p), x, layerwise=layerwise)
            return ce(out, y)

        return loss

    resets = {r: nnx.split(network(H, r)) for r in ("zero", "none")}

    eqx_model = spyx_eqx.from_nnx(model)
    eparams, static = eqx.partition(eqx_model, eqx.is_array)
    state = eqx_model.initial_state(B)

    def eqx_loss(p, x):
        out, _ = spyx_eqx.run(eqx.combine(p, static), x, state)
        return ce(out, y)

    grad = lambda f: jax.grad(f, argnums=0)  # noqa: E731
    return x, [
        ("floor (no recurrence)", grad(floor), dict(params)),
        ("whole-net scan", grad(nnx_loss(False)), params),
        ("spyx.nn layer-wise", grad(nnx_loss(True)), params),
        ("spyx_eqx layer-wise", grad(eqx_loss), eparams),
        *(
            (f'spyx.nn layer-wise, reset="{r}"', grad(nnx_loss(True, g)), p)
            for r, (g, p) in resets.items()
        ),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    print(
        f"jax {jax.__version__} on {jax.devices()[0].device_kind}, "
        f"median of {args.repeats} runs, forward + backward\n"
    )
    print("| T, B, H | variant | median ms | x floor | compile s |")
    print("|---|---|---|---|---|")
    for T, B, H in SHAPES:
        x, rows = cases(T, B, H)
        compiled = [compile_(fn, (params, x)) for _, fn, params in rows]
        calls = [
            (c, (params, x))
            for (c, _), (_, _, params) in zip(compiled, rows, strict=True)
        ]
        medians = interleaved(calls, args.repeats)
        for (name, _, _), ms, (_, compile_s) in zip(
            rows, medians, compiled, strict=True
        ):
            print(
                f"| {T}, {B}, {H} | {name} | {ms:.1f} | {ms / medians[0]:.2f} | "
                f"{compile_s:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
