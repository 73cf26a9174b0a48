"""Draw every figure of the documentation site from code in this repository.

    python docs/figures.py                  # every figure
    python docs/figures.py resets digits    # some of them
    python docs/figures.py --list           # what there is

Each figure is a function registered in `FIGURES` with the files it writes,
relative to ``docs/``. The tutorials draw their own figures: their code
blocks run here as the test suite runs them (in order, in a temporary
folder), and the images they save are copied next to the page. The
performance chart is drawn from the table on the performance page, so the
two cannot disagree. ``tests/test_docs.py`` checks that every image the site
shows is written by one of these functions. Run it after changing what a
figure shows (the digits example and the tutorials take a minute or two).
"""

import argparse
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
# reproducible SVGs: no timestamp, fixed element ids, so redrawing a figure
# that did not change leaves its file unchanged
os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
matplotlib.rcParams["svg.hashsalt"] = "spyx"
import matplotlib.pyplot as plt  # noqa: E402

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))
from architecture import room_edges  # noqa: E402

BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def code_blocks(page: Path) -> list[str]:
    """The ```python blocks of a page, in order (```py blocks are not run)."""
    return BLOCK.findall(page.read_text())


def run_page(page: Path) -> list[str]:
    """Run a page's blocks in order, in one namespace, in the current folder;
    an error names the page and the block."""
    namespace: dict = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    blocks = code_blocks(page)
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{page.name}[block {i}]", "exec"), namespace)
        except Exception as err:
            raise AssertionError(
                f"{page.name}, code block {i} failed: {err!r}"
            ) from err
        finally:
            plt.close("all")
    return blocks


def images(page: Path) -> list[str]:
    """The local images a page shows: ``![alt](file)``."""
    return [
        m
        for m in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", page.read_text())
        if "://" not in m
    ]


def _tutorial(
    name: str, folder: str = "tutorial"
) -> tuple[Callable[[Path], None], tuple[str, ...]]:
    """A page that draws the images it shows (the tutorials, a how-to), as
    a figure."""
    page = DOCS / folder / f"{name}.md"

    def draw(out: Path) -> None:
        here = os.getcwd()
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)
            try:
                run_page(page)
            finally:
                os.chdir(here)
            for image in images(page):
                (out / folder).mkdir(parents=True, exist_ok=True)
                shutil.copy(Path(tmp) / image, out / folder / image)

    draw.__doc__ = f"The figures the {name} page draws."
    return draw, tuple(f"{folder}/{image}" for image in images(page))


def surrogates(out: Path) -> None:
    """Every surrogate derivative of `spyx.axn` at its default parameters,
    computed with `jax.grad`."""
    import jax
    import jax.numpy as jnp

    import spyx.axn as axn

    x = jnp.linspace(-2, 2, 801)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in ("superspike", "arctan", "tanh", "boxcar", "triangular"):
        spike = getattr(axn, name)()
        ax.plot(x, jax.vmap(jax.grad(spike))(x), label=f"{name}()")
    ax.set(xlabel="V - threshold", ylabel="surrogate dH/dx")
    ax.set_title("Surrogate derivatives")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "explanation" / "surrogates.svg")


def resets(out: Path) -> None:
    """The membrane and spikes of one LIF neuron (beta 0.9, threshold 1)
    under a constant input of 0.3, in each reset mode."""
    import jax.numpy as jnp

    import spyx.nn as snn

    T = 40
    x = jnp.full((T, 1, 1), 0.3)  # [Time, Batch, 1]
    fig, axes = plt.subplots(3, 1, figsize=(7, 6), sharex=True)
    for ax, reset in zip(axes, ("subtract", "zero", "none"), strict=True):
        layer = snn.LIF((1,), beta=0.9, reset=reset)
        V, trace, spikes = layer.initial_state(1), [], []
        for x_t in x:
            s, V = layer(x_t, V)
            trace.append(float(V[0, 0]))
            spikes.append(float(s[0, 0]))
        ax.plot(range(1, T + 1), trace, label="membrane V after the step")
        ax.axhline(1.0, color="grey", linestyle="--", linewidth=0.8, label="threshold")
        fired = [t + 1 for t, s in enumerate(spikes) if s > 0]  # step t + 1
        ax.vlines(fired, 0, 0.25, color="tab:red", label="spike")
        ax.set(ylabel="V", title=f'reset="{reset}"')
    axes[-1].legend(loc="lower right", bbox_to_anchor=(1.0, 0.15), fontsize="small")
    axes[-1].set(xlabel="time step")
    fig.tight_layout()
    fig.savefig(out / "explanation" / "resets.svg")


def primer(out: Path) -> None:
    """One LIF neuron over 60 steps: its input, its membrane crossing the
    threshold and the spikes, and the surrogate derivative a gradient would
    flow through at each step."""
    import jax
    import jax.numpy as jnp

    import spyx.axn as axn
    import spyx.nn as snn

    T = 60
    x = 0.25 + 0.2 * jax.random.normal(jax.random.key(0), (T, 1, 1))
    layer = snn.LIF((1,), beta=0.9)
    V, trace, spikes = layer.initial_state(1), [], []
    for x_t in x:
        trace.append(float(V[0, 0]))  # the membrane the spike is read from
        s, V = layer(x_t, V)
        spikes.append(float(s[0, 0]))
    g = jax.vmap(jax.grad(axn.superspike()))(jnp.asarray(trace) - 1.0)
    fig, axes = plt.subplots(3, 1, figsize=(7, 5.4), sharex=True)
    axes[0].step(range(T), x[:, 0, 0], where="mid", color="tab:blue")
    axes[0].set(ylabel="input x")
    axes[1].plot(range(T), trace, color="k", label="membrane V")
    axes[1].axhline(1.0, color="grey", linestyle="--", linewidth=0.8, label="threshold")
    fired = [t for t, s in enumerate(spikes) if s > 0]
    axes[1].vlines(fired, 1.05, 1.35, color="tab:red", label="spike")
    axes[1].set(ylabel="V", ylim=(-0.7, 1.45))
    axes[1].legend(loc="lower center", ncol=3, fontsize="small")
    axes[2].plot(range(T), g, color="tab:green")
    axes[2].set(ylabel="surrogate g(V - 1)", xlabel="time step")
    fig.tight_layout()
    fig.savefig(out / "explanation" / "primer.svg")


def performance_table(path: Path) -> list[dict[str, str]]:
    """The per-neuron measurements the performance page links
    (``per-neuron-cpu.csv``), one dict per row, with the ratios as
    ``"fwd+bwd x floor"`` and ``"fwd x floor"``."""
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def performance(out: Path) -> None:
    """The spyx.nn table of the performance page as a chart: fwd+bwd time
    of each neuron's training step as a multiple of its matmuls alone, with
    the sequence kernel and with autodiff of the scan."""
    import numpy as np

    rows = performance_table(DOCS / "explanation" / "per-neuron-cpu.csv")
    shapes = list(dict.fromkeys(r["T, B, H"] for r in rows))
    fig, axes = plt.subplots(1, len(shapes), figsize=(9, 4.4), sharex=True)
    for ax, shape in zip(np.atleast_1d(axes), shapes, strict=True):
        ratio = {
            r["neuron"]: float(r["fwd+bwd x floor"])
            for r in rows
            if r["T, B, H"] == shape
        }
        names = [n for n in ratio if "(" not in n]
        y = np.arange(len(names))
        kernel = [ratio[n] for n in names]
        scan = [ratio.get(f"{n} (autodiff scan)", np.nan) for n in names]
        ax.barh(y - 0.2, kernel, 0.4, label="sequence kernel")
        ax.barh(y + 0.2, scan, 0.4, label="autodiff of the scan")
        for k, (v, w) in enumerate(zip(kernel, scan, strict=True)):
            if np.isnan(w):  # PSU_LIF: the page says why it has no such bar
                ax.text(v + 0.05, k + 0.2, "(no scan variant)", va="center")
        ax.axvline(1.0, color="grey", linestyle="--", linewidth=0.8)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set(xlabel="fwd+bwd time / floor", title=f"T, B, H = {shape}")
    fig.legend(
        *np.atleast_1d(axes)[0].get_legend_handles_labels(),
        loc="lower center",
        ncol=2,
    )
    fig.suptitle("Training step of Linear -> neuron -> Linear -> LI (CPU, 2 cores)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(out / "explanation" / "performance.svg")


def versus_table(path: Path, shape: str) -> str:
    """The performance page's table of this spyx against spyx 1.0 and
    snnTorch at one shape (``"100x64x128"``), written from the CSV
    `benchmarks/versus.py` wrote: per neuron, this spyx's milliseconds and
    the others' times as multiples of it, each as "training step /
    inference"."""
    import csv

    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["shape"] == shape]
    lines = [
        "| neuron | spyx, ms | spyx 1.0, x | snnTorch, x |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        cells = [row["neuron"], f"{row['spyx train ms']} / {row['spyx infer ms']}"]
        for other in ("spyx 1.0", "snnTorch"):
            train, infer = row[f"{other} train x spyx"], row[f"{other} infer x spyx"]
            cells.append(f"{train} / {infer}" if train else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def strategies_table(path: Path) -> list[dict[str, str]]:
    """The execution-strategy grid the performance page links
    (``strategies-cpu.csv``), one dict per row."""
    return performance_table(path)


def strategies(out: Path) -> None:
    """The execution-strategy table of the performance page as heat maps:
    for every shape and neuron, the default `run`'s time as a multiple of
    the fastest strategy's, training step and inference."""
    import numpy as np

    rows = strategies_table(DOCS / "explanation" / "strategies-cpu.csv")
    shapes = list(dict.fromkeys(r["T, B, H"] for r in rows))
    neurons = list(dict.fromkeys(r["neuron"] for r in rows))
    passes = list(dict.fromkeys(r["pass"] for r in rows))
    # one panel above the other, each the page's full width, so that the
    # numbers in the cells stay readable at the column's width
    fig, axes = plt.subplots(
        len(passes), 1, figsize=(7.5, 10), sharex=True, layout="constrained"
    )
    for ax, kind in zip(np.atleast_1d(axes), passes, strict=True):
        grid = np.full((len(shapes), len(neurons)), np.nan)
        for r in rows:
            if r["pass"] == kind:
                i, j = shapes.index(r["T, B, H"]), neurons.index(r["neuron"])
                grid[i, j] = float(r["x best"])
        image = ax.imshow(grid, vmin=1.0, vmax=1.3, cmap="Reds", aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            if not np.isnan(v):
                ax.text(
                    j,
                    i,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=10,
                    color="black" if v > 1.0 else "#666",
                )
        ax.set_xticks(range(len(neurons)), neurons, fontsize=10, rotation=30)
        ax.set_yticks(range(len(shapes)), shapes, fontsize=10)
        ax.set_ylabel("T, B, H")
        label = "training step" if kind == "fwd+bwd" else "inference"
        ax.set_title(f"{label} ({kind})", fontsize=11)
    fig.colorbar(image, ax=axes, label="default / fastest strategy", shrink=0.6)
    fig.suptitle("The default run against the fastest execution (CPU, 2 cores)")
    fig.savefig(out / "explanation" / "strategies.svg", bbox_inches="tight")


def graph_timing(out: Path) -> None:
    """When a spike crosses a `Graph`: a two-layer network with feedback
    from layer 2 to layer 1, one unit each, run by spyx in both timings."""
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    import spyx.nn as snn

    def net(after: bool) -> snn.Graph:
        def gain(w: float) -> nnx.Linear:
            layer = nnx.Linear(1, 1, use_bias=False, rngs=nnx.Rngs(0))
            layer.kernel[...] = jnp.full((1, 1), w)
            return layer

        nodes = {
            "lif1": snn.LIF((1,), beta=0.0, reset="zero"),
            "w12": gain(2.0),
            "lif2": snn.LIF((1,), beta=0.0, reset="zero"),
            "back": gain(2.0),
        }
        edges = [("input", "lif1"), ("lif1", "w12"), ("w12", "lif2")]
        edges += [("lif2", "back"), ("back", "lif1"), ("lif2", "output")]
        delayed = [("back", "lif1")] if after else []
        return snn.Graph(nodes, edges, delayed=delayed, spikes_after_update=after)

    (out / "how-to").mkdir(parents=True, exist_ok=True)
    T = 9
    x = np.zeros((T, 1, 1), np.float32)
    x[1] = 2.0  # one input pulse at step 1
    fig, axes = plt.subplots(1, 2, figsize=(9, 2.8), sharey=True)
    titles = (
        "default: the spike comes from the state before the step",
        "spikes_after_update=True (NIR's, snnTorch's timing)",
    )
    for ax, after, title in zip(axes, (False, True), titles, strict=True):
        model = net(after)
        state = model.initial_state(1)
        rows = {"input": x[:, 0, 0], "layer 1": [], "layer 2": []}
        for t in range(T):
            before = float(state["lif1"][0, 0])
            y, state = model(jnp.asarray(x[t]), state)
            # layer 1's output: the spike of its membrane before (default)
            # or after (spikes_after_update) this step's update
            v1 = float(state["lif1"][0, 0]) if after else before
            rows["layer 1"].append(float(v1 > 1.0))
            rows["layer 2"].append(float(y[0, 0]))
        for i, name in enumerate(rows):
            steps = np.nonzero(np.asarray(rows[name]) > 0)[0]
            ax.scatter(steps, np.full(len(steps), 2 - i), marker="|", s=400)
        ax.set_yticks([2, 1, 0], list(rows))
        ax.set_xticks(range(T))
        ax.set_xlabel("step t")
        ax.set_title(title, fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "how-to" / "graph-timing.svg")


def rooms(out: Path) -> None:
    """The rooms of `spyx.core`, bottom up, and which imports which, read
    from the source: a filled cell is an import, the shaded half is what
    the layering forbids."""
    import importlib
    import textwrap

    from matplotlib.patches import Rectangle

    from spyx import core

    names = list(core._ROOMS)
    n = len(names)
    files = {
        r: sorted(
            p.stem
            for p in (ROOT / "spyx" / "core" / r).glob("*.py")
            if p.name != "__init__.py"
        )
        for r in names
    }
    edges = room_edges()
    # the rooms above, the import matrix below: each the column's full width,
    # so the file names stay readable on the page
    fig, (left, right) = plt.subplots(
        2, 1, figsize=(7.5, 10.5), gridspec_kw={"height_ratios": [1.15, 1]}
    )
    for i, r in enumerate(names):  # bottom up
        left.add_patch(
            Rectangle((0, i), 1, 0.86, facecolor="#e8eef7", edgecolor="#3b5b92")
        )
        doc = importlib.import_module(f"spyx.core.{r}").__doc__ or ""
        job = " ".join(doc.split(":")[0].split())
        left.text(0.02, i + 0.62, r, fontsize=11, weight="bold", va="center")
        left.text(0.3, i + 0.66, job, fontsize=9.5, va="center")
        listed = textwrap.fill(" ".join(files[r]), 72)
        left.text(0.02, i + 0.28, listed, fontsize=9, va="center", color="#333")
    left.text(
        0,
        n + 0.1,
        "spyx.nn, spyx_eqx, spyx.nir: spyx.core and _frontend",
        fontsize=10,
        style="italic",
    )
    left.set_xlim(0, 1)
    left.set_ylim(-0.1, n + 0.5)
    left.axis("off")
    left.set_title("the rooms, bottom up", fontsize=10)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            y = i  # bottom up, as on the left
            if j >= i:  # a room may not import itself through others or above
                right.add_patch(Rectangle((j, y), 1, 1, facecolor="#ddd", lw=0))
            cell = Rectangle((j, y), 1, 1, fill=False, edgecolor="#999", lw=0.5)
            right.add_patch(cell)
            if (a, b) in edges:
                mark = Rectangle(
                    (j + 0.2, y + 0.2), 0.6, 0.6, facecolor="#3b5b92", lw=0
                )
                mark.set_gid(f"import:{a}:{b}")
                right.add_patch(mark)
    right.set_xlim(0, n)
    right.set_ylim(0, n)
    right.set_xticks([j + 0.5 for j in range(n)], names, rotation=40, ha="right")
    right.set_yticks([i + 0.5 for i in range(n)], names)
    right.set_aspect("equal")
    right.set_title("row imports column", fontsize=10)
    right.tick_params(length=0, labelsize=9.5)
    fig.tight_layout()
    fig.savefig(out / "explanation" / "rooms.svg", metadata={"Date": None})


def digits(out: Path) -> None:
    """The hidden-layer raster and the training curves of
    examples/digits_nnx.py (the README's first command), as it writes them."""
    sys.path.insert(0, str(ROOT / "examples"))
    import digits_nnx

    with tempfile.TemporaryDirectory() as tmp:
        digits_nnx.main(["--out", tmp])
        for kind in ("raster", "curves"):
            shutil.copy(
                Path(tmp) / f"digits_nnx_{kind}.png", out / f"digits-{kind}.png"
            )


FIGURES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "surrogates": (surrogates, ("explanation/surrogates.svg",)),
    "resets": (resets, ("explanation/resets.svg",)),
    "primer": (primer, ("explanation/primer.svg",)),
    "performance": (performance, ("explanation/performance.svg",)),
    "strategies": (strategies, ("explanation/strategies.svg",)),
    "graph-timing": (graph_timing, ("how-to/graph-timing.svg",)),
    "rooms": (rooms, ("explanation/rooms.svg",)),
    "tutorial-nnx": _tutorial("first-snn-nnx"),
    "tutorial-eqx": _tutorial("first-snn-eqx"),
    "look-inside": _tutorial("look-inside", "how-to"),
    "digits": (digits, ("digits-raster.png", "digits-curves.png")),
}
"""Figure name -> (function drawing into a docs folder, files it writes)."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"figures: {', '.join(FIGURES)}")
    parser.add_argument("--out", type=Path, default=DOCS, help="the docs folder")
    parser.add_argument("--list", action="store_true", help="list the figures")
    args = parser.parse_args(argv)
    if args.list:
        for name, (draw, files) in FIGURES.items():
            print(f"{name}: {', '.join(files)} -- {draw.__doc__.splitlines()[0]}")
        return
    unknown = sorted(set(args.names) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; there are {list(FIGURES)}")
    for name in args.names or FIGURES:
        draw, files = FIGURES[name]
        (args.out / "explanation").mkdir(parents=True, exist_ok=True)
        draw(args.out)
        for file in files:
            print(f"wrote {args.out / file}")


if __name__ == "__main__":
    main()
