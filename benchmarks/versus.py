"""This spyx against spyx 1.0 and snnTorch, neuron by neuron.

The network is Linear(700, H) -> NEURON(H) -> Linear(H, 20) -> LI(20) with a
cross-entropy of the readout summed over time, on spike input (10 % of the
inputs fire at each step). For each library and neuron: the median time of
a training step (forward + backward) and of inference (forward only).

- **spyx** (this checkout) and **spyx 1.0** run the same script: the
  `spyx.nn` network through `spyx.nn.run`, compiled with `jax.jit`, each in
  its default execution. spyx 1.0 is a package of the same name, so it runs
  in a Python environment of its own (``--spyx1``).
- **snnTorch** steps the same network in a Python loop over time, as its
  tutorials do (`snn.Leaky`, `snn.Synaptic`, `snn.RLeaky`, `snn.RSynaptic`;
  an `snn.Leaky` without reset as the readout), on as many CPU threads as
  JAX has cores; it has no ALIF or PSU_LIF.

Each library runs in a process of its own, one after the other in this one
run; within a process the neurons are timed round-robin. The ratios divide
by this spyx's time for the same neuron and shape.

    python benchmarks/versus.py --spyx1 /path/to/env/bin/python \\
        --torch /path/to/env/bin/python
    python benchmarks/versus.py --shape 100,64,128 --repeats 7 --spyx1 ...
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHAPES = [(100, 64, 128), (1000, 16, 256)]
NEURONS = ["IF", "LIF", "ALIF", "CuBaLIF", "RIF", "RLIF", "RCuBaLIF", "PSU_LIF"]
# each neuron's decays, given explicitly to every library
DECAYS = {
    "IF": {},
    "LIF": {"beta": 0.9},
    "ALIF": {"beta": 0.9, "gamma": 0.8},
    "CuBaLIF": {"alpha": 0.8, "beta": 0.9},
    "RIF": {},
    "RLIF": {"beta": 0.9},
    "RCuBaLIF": {"alpha": 0.8, "beta": 0.9},
    "PSU_LIF": {"beta": 0.9},
}


def jax_rows(T: int, B: int, H: int, repeats: int) -> dict:
    """Times of the `spyx` this interpreter imports (this one or 1.0)."""
    sys.path.insert(0, str(HERE))
    import jax
    import jax.numpy as jnp
    import optax
    from flax import nnx
    from harness import compile_, interleaved

    import spyx
    import spyx.nn as snn

    x = jax.random.bernoulli(jax.random.key(0), 0.1, (T, B, 700)).astype(jnp.float32)
    y = jax.random.randint(jax.random.key(1), (B,), 0, 20)
    calls, names = [], []
    for name in NEURONS:
        cls = getattr(snn, name)
        model = snn.Sequential(
            nnx.Linear(700, H, rngs=nnx.Rngs(0)),
            cls((H,), **DECAYS[name], rngs=nnx.Rngs(1)),
            nnx.Linear(H, 20, rngs=nnx.Rngs(2)),
            snn.LI((20,), beta=0.9, rngs=nnx.Rngs(3)),
        )
        graphdef, params = nnx.split(model)

        def infer(p, x, g=graphdef):
            return snn.run(nnx.merge(g, p), x)[0]

        def loss(p, x, g=graphdef):
            logits = snn.run(nnx.merge(g, p), x)[0].sum(0)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        train, _ = compile_(jax.value_and_grad(loss), (params, x))
        fwd, _ = compile_(infer, (params, x))
        calls += [(train, (params, x)), (fwd, (params, x))]
        names.append(name)
    ms = interleaved(calls, repeats)
    version = getattr(spyx, "__version__", "?")
    return {
        "version": version,
        "rows": {n: (ms[2 * i], ms[2 * i + 1]) for i, n in enumerate(names)},
    }


def torch_rows(T: int, B: int, H: int, repeats: int, threads: int) -> dict:
    """Times of snnTorch stepping the network in a Python loop."""
    import statistics
    import time

    import snntorch
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = (torch.rand(T, B, 700) < 0.1).float()
    y = torch.randint(0, 20, (B,))
    kinds = {
        "IF": lambda: snntorch.Leaky(beta=1.0),
        "LIF": lambda: snntorch.Leaky(beta=0.9),
        "CuBaLIF": lambda: snntorch.Synaptic(alpha=0.8, beta=0.9),
        "RIF": lambda: snntorch.RLeaky(beta=1.0, linear_features=H),
        "RLIF": lambda: snntorch.RLeaky(beta=0.9, linear_features=H),
        "RCuBaLIF": lambda: snntorch.RSynaptic(alpha=0.8, beta=0.9, linear_features=H),
    }

    class Net(nn.Module):
        def __init__(self, name: str):
            super().__init__()
            self.name = name
            self.fc1, self.fc2 = nn.Linear(700, H), nn.Linear(H, 20)
            self.neuron = kinds[name]()
            self.readout = snntorch.Leaky(beta=0.9, reset_mechanism="none")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            zeros = torch.zeros(x.shape[1], H)
            spk, syn, mem = zeros, zeros, zeros
            mem_out = torch.zeros(x.shape[1], 20)
            total = torch.zeros(x.shape[1], 20)
            for t in range(x.shape[0]):
                cur = self.fc1(x[t])
                if self.name == "CuBaLIF":
                    spk, syn, mem = self.neuron(cur, syn, mem)
                elif self.name == "RCuBaLIF":
                    spk, syn, mem = self.neuron(cur, spk, syn, mem)
                elif self.name.startswith("R"):
                    spk, mem = self.neuron(cur, spk, mem)
                else:
                    spk, mem = self.neuron(cur, mem)
                _, mem_out = self.readout(self.fc2(spk), mem_out)
                total = total + mem_out
            return total

    nets = {name: Net(name) for name in kinds}
    loss_fn = nn.CrossEntropyLoss()

    def train(net: nn.Module) -> None:
        net.zero_grad()
        loss_fn(net(x), y).backward()

    def infer(net: nn.Module) -> None:
        with torch.no_grad():
            net(x)

    calls = [(fn, net) for net in nets.values() for fn in (train, infer)]
    for fn, net in calls:  # warm-up
        fn(net)
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeats):
        for i, (fn, net) in enumerate(calls):
            start = time.perf_counter()
            fn(net)
            times[i].append(time.perf_counter() - start)
    ms = [1e3 * statistics.median(t) for t in times]
    return {
        "version": snntorch.__version__,
        "rows": {n: (ms[2 * i], ms[2 * i + 1]) for i, n in enumerate(nets)},
    }


def _worker(python: str, kind: str, shape: tuple, repeats: int) -> dict:
    T, B, H = shape
    cmd = [python, str(Path(__file__)), "--worker", kind]
    cmd += ["--shape", f"{T},{B},{H}", "--repeats", str(repeats)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spyx1", help="a Python with spyx 1.0 installed")
    parser.add_argument("--torch", help="a Python with snnTorch installed")
    parser.add_argument("--shape", help="T,B,H (default: both shapes)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--csv", type=Path, help="also write the table here")
    parser.add_argument("--worker", choices=["jax", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    shapes = [tuple(int(v) for v in args.shape.split(","))] if args.shape else SHAPES
    if args.worker:
        import os

        threads = int(os.environ.get("VERSUS_THREADS", os.cpu_count() or 1))
        found = (
            jax_rows(*shapes[0], args.repeats)
            if args.worker == "jax"
            else torch_rows(*shapes[0], args.repeats, threads)
        )
        print(json.dumps(found))
        return
    header = ",".join(
        ["shape", "neuron"]
        + [
            f"{who} {part} {unit}"
            for part in ("train", "infer")
            for who, unit in [
                ("spyx", "ms"),
                ("spyx 1.0", "ms"),
                ("spyx 1.0", "x spyx"),
                ("snnTorch", "ms"),
                ("snnTorch", "x spyx"),
            ]
        ]
    )
    lines = [header]
    versions = {}
    for shape in shapes:
        found = {"spyx": _worker(sys.executable, "jax", shape, args.repeats)}
        if args.spyx1:
            found["spyx 1.0"] = _worker(args.spyx1, "jax", shape, args.repeats)
        if args.torch:
            found["snnTorch"] = _worker(args.torch, "torch", shape, args.repeats)
        versions = {k: v["version"] for k, v in found.items()}
        ours = found["spyx"]["rows"]
        for name in NEURONS:
            cells = []
            for part in (0, 1):
                cells.append(f"{ours[name][part]:.1f}")
                for other in ("spyx 1.0", "snnTorch"):
                    row = found.get(other, {}).get("rows", {}).get(name)
                    if row is None:
                        cells += ["", ""]
                    else:
                        ratio = row[part] / ours[name][part]
                        cells += [f"{row[part]:.1f}", f"{ratio:.2f}"]
            lines.append(f"{'x'.join(map(str, shape))},{name}," + ",".join(cells))
    print(f"versions: {versions}; medians of {args.repeats}")
    print("\n".join(lines))
    if args.csv:
        args.csv.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
