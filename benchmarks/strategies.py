"""Which execution of `run` is fastest at which shape, and what the default picks.

The network is Linear(700, H) -> NEURON(H) -> Linear(H, 20) -> LI(20) with an
integral cross-entropy, run with `spyx.nn.run` in each explicit strategy:

- ``layerwise``: ``run(..., layerwise=True)``, each layer over the whole
  sequence (one matmul over all T * B rows, one sequence kernel per neuron);
- ``stepwise``: ``run(..., layerwise=False)``, the whole model once per step;
- ``chunk K``: ``run(..., chunk=K)``, layer by layer within chunks of K steps.

For every shape of the grid (T in {100, 1000}, B in {16, 64, 256}, H in
{128, 512}) and every spiking neuron, the median forward + backward and
forward-only times of each strategy, timed round-robin in one process per
shape, and the strategy the default ``run(model, x)`` picks for that model
and shape (`Execution.plan`: in a training step for fwd+bwd, in inference
for fwd), with its time as a ratio to the fastest. The default runs exactly
the program of the strategy it picks, so its time is that strategy's.

    python benchmarks/strategies.py                      # the whole grid
    python benchmarks/strategies.py --shape 100,256,512  # one shape
    python benchmarks/strategies.py --json grid.jsonl    # also as JSON lines
    python benchmarks/strategies.py --report grid.jsonl again.jsonl  # the table

The numbers on the performance page are in `benchmarks/results/`.
"""

import argparse
import itertools
import json
import subprocess
import sys

from harness import compile_, interleaved

GRID = list(itertools.product((100, 1000), (16, 64, 256), (128, 512)))
CHUNK = 20


def strategies() -> list[tuple[str, dict]]:
    return [
        ("layerwise", {"layerwise": True}),
        ("stepwise", {"layerwise": False}),
        (f"chunk {CHUNK}", {"chunk": CHUNK}),
    ]


def one_shape(T: int, B: int, H: int, repeats: int, neurons: list[str]) -> list:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    import spyx
    import spyx.nn as snn
    from spyx import core

    x = jax.random.bernoulli(jax.random.key(0), 0.1, (T, B, 700)).astype(jnp.float32)
    y = jax.random.randint(jax.random.key(1), (B,), 0, 20)
    ce = spyx.fn.integral_crossentropy(time_axis=0)
    results = []
    for spec in core.NEURONS:
        if not spec.spiking or (neurons and spec.name not in neurons):
            continue
        rngs = nnx.Rngs(0)
        model = snn.Sequential(
            nnx.Linear(700, H, rngs=rngs),
            snn.nnx_class(spec)((H,), rngs=nnx.Rngs(1)),
            nnx.Linear(H, 20, rngs=rngs),
            snn.LI((20,)),
        )
        graphdef, params = nnx.split(model)
        calls, names = [], []
        for name, options in strategies():

            def out(p, x, options=options, graphdef=graphdef):
                return snn.run(nnx.merge(graphdef, p), x, **options)[0]

            train = jax.grad(lambda p, x, out=out: ce(out(p, x), y))
            for kind, fn in (("fwd+bwd", train), ("fwd", out)):
                compiled, _ = compile_(fn, (params, x))
                calls.append((compiled, (params, x)))
                names.append((name, kind))
        medians = dict(zip(names, interleaved(calls, repeats), strict=True))
        for kind in ("fwd+bwd", "fwd"):
            row = {"T": T, "B": B, "H": H, "neuron": spec.name, "kind": kind}
            row["ms"] = {n: medians[n, kind] for n, _ in strategies()}
            results.append(row)
            print(report_line(row), flush=True)
    return results


def default_choice(row: dict) -> str:
    """The strategy the default `run` picks for this row's model and shape,
    in a training step (fwd+bwd) or in inference (fwd)."""
    from flax import nnx

    import spyx.nn as snn
    from spyx import core
    from spyx.core import _frontend as frontend

    spec = next(s for s in core.NEURONS if s.name == row["neuron"])
    H = row["H"]
    layers = [
        nnx.Linear(700, H, rngs=nnx.Rngs(0)),
        snn.nnx_class(spec)((H,), rngs=nnx.Rngs(1)),
        nnx.Linear(H, 20, rngs=nnx.Rngs(2)),
        snn.LI((20,)),
    ]
    strategy, chunk = frontend.Execution().plan(
        "run",
        (row["T"], row["B"], 700),
        layers,
        differentiated=row["kind"] == "fwd+bwd",
    )
    return {"layerwise": "layerwise", "stepwise": "stepwise"}.get(
        strategy, f"chunk {chunk}"
    )


def report_line(row: dict) -> str:
    times = row["ms"]
    best = min(times.values())
    default = default_choice(row)
    cells = " | ".join(f"{times[n] / best:.2f}" for n, _ in strategies())
    mark = "*" if row.get("again") else ""
    return (
        f"| {row['T']}, {row['B']}, {row['H']} | {row['neuron']} | {row['kind']} | "
        f"{best:.1f}{mark} | {cells} | {default} | {times[default] / best:.2f} |"
    )


def header(repeats: int | str) -> str:
    import jax

    names = " | ".join(n for n, _ in strategies())
    return (
        f"jax {jax.__version__} on {jax.devices()[0].device_kind}, median of "
        f"{repeats} runs; each strategy as a multiple of the fastest\n\n"
        f"| T, B, H | neuron | pass | best ms | {names} | default | x best |\n"
        + "|---" * (6 + len(strategies()))
        + "|"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--shape", default=None, help="T,B,H (default: the grid)")
    p.add_argument("--neurons", default="", help="comma-separated (default: all)")
    p.add_argument("--json", default=None, help="append JSON lines to this file")
    p.add_argument("--header", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument(
        "--report",
        nargs="+",
        default=None,
        help="print the table of --json files again, with today's default choice; "
        "a row of a later file replaces the same row of an earlier one (marked *)",
    )
    args = p.parse_args()
    if args.report:
        rows: dict[tuple, dict] = {}
        for i, path in enumerate(args.report):
            with open(path) as f:
                for line in f:
                    row = json.loads(line) | {"again": i > 0}
                    key = tuple(row[k] for k in ("T", "B", "H", "neuron", "kind"))
                    rows[key] = row
        print(header("several"))
        for row in rows.values():
            print(report_line(row))
        return
    if args.header:
        print(header(args.repeats), flush=True)
    neurons = [n for n in args.neurons.split(",") if n]
    if args.shape is not None:
        T, B, H = (int(v) for v in args.shape.split(","))
        rows = one_shape(T, B, H, args.repeats, neurons)
        if args.json:
            with open(args.json, "a") as f:
                f.writelines(json.dumps(r) + "\n" for r in rows)
        return
    for T, B, H in GRID:  # one process per shape
        command = [
            sys.executable,
            __file__,
            f"--shape={T},{B},{H}",
            f"--repeats={args.repeats}",
            f"--neurons={args.neurons}",
            "--no-header",
        ]
        if args.json:
            command.append(f"--json={args.json}")
        subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
