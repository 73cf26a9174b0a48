"""Data, options and plots shared by the two main examples (NNX and Equinox).

Not part of the library: the examples import it by file location.
"""

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Data:
    """Dense features in [0, 1] (rate-coded on the fly) or binned spikes."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    spikes: bool  # True: x is already [N, T, units] spikes (SHD)
    num_classes: int
    name: str


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--epochs", type=int, default=40, help="passes over the training set"
    )
    p.add_argument("--steps", type=int, default=25, help="time steps per example")
    p.add_argument(
        "--hidden", type=int, default=256, help="LIF neurons in the hidden layer"
    )
    p.add_argument("--batch-size", type=int, default=64, help="examples per batch")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    p.add_argument("--seed", type=int, default=0, help="seed of split, init and coding")
    p.add_argument(
        "--shd",
        type=Path,
        default=None,
        help="train on a Spiking Heidelberg Digits .h5 file (split 80/20) "
        "instead of the scikit-learn digits",
    )
    p.add_argument(
        "--shd-test",
        type=Path,
        default=None,
        help="with --shd: test on this SHD .h5 file (SHD's own test split, "
        "shd_test.h5) and train on all of --shd",
    )
    p.add_argument(
        "--max-samples", type=int, default=None, help="use only this many samples"
    )
    p.add_argument(
        "--out", type=Path, default=Path("."), help="folder for the PNG plots"
    )
    p.add_argument("--no-plots", action="store_true", help="skip writing the plots")
    return p


def _split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(0.8 * n))
    return order[:cut], order[cut:]


def load(args: argparse.Namespace) -> Data:
    """The scikit-learn digits (8x8, 1797 images; ships with the package) or
    an SHD file, split 80/20 with the seed."""
    if args.shd is not None:
        import spyx.data

        def read(path: Path) -> tuple[np.ndarray, np.ndarray]:
            ds = spyx.data.load_shd(
                path, num_steps=args.steps, max_samples=args.max_samples
            )
            return ds.dense(np.arange(len(ds))).transpose(1, 0, 2), ds.labels

        x, y = read(args.shd)  # x: [N, T, units]
        if args.shd_test is not None:
            x_test, y_test = read(args.shd_test)
            name = f"SHD ({args.shd.name}, tested on {args.shd_test.name})"
        else:
            train, test = _split(len(y), args.seed)
            x, y, x_test, y_test = x[train], y[train], x[test], y[test]
            name = f"SHD ({args.shd.name})"
        classes = int(max(y.max(), y_test.max())) + 1
        return Data(x, y, x_test, y_test, True, classes, name)
    if args.shd_test is not None:
        raise SystemExit("--shd-test needs --shd (the training file)")
    from sklearn.datasets import load_digits

    data, target = load_digits(return_X_y=True)
    x = (data / 16.0).astype(np.float32)
    y = target.astype(np.int32)
    if args.max_samples is not None:
        x, y = x[: args.max_samples], y[: args.max_samples]
    train, test = _split(len(x), args.seed)
    return Data(x[train], y[train], x[test], y[test], False, 10, "scikit-learn digits")


def batches(n: int, batch_size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    for start in range(0, n - batch_size + 1, batch_size):
        yield order[start : start + batch_size]


class Clock:
    """Wall time since the script started (imports included)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start


def plot(
    out: Path, tag: str, raster: np.ndarray, label: int, losses, accs
) -> list[Path]:
    """Spike raster of one test example and the training curves, as PNGs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    t, n = np.nonzero(raster)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(t, n, s=4, marker="|", color="k")
    ax.set(
        xlabel="time step",
        ylabel="hidden neuron",
        title=f"Hidden spikes, digit {label}",
    )
    fig.tight_layout()
    raster_path = out / f"{tag}_raster.png"
    fig.savefig(raster_path, dpi=120)
    plt.close(fig)

    fig, ax1 = plt.subplots(figsize=(7, 4))
    ax1.plot(np.arange(1, len(losses) + 1), losses, color="tab:blue")
    ax1.set(xlabel="epoch", ylabel="training loss")
    ax2 = ax1.twinx()
    ax2.plot(np.arange(1, len(accs) + 1), accs, color="tab:red")
    ax2.set_ylabel("test accuracy", color="tab:red")
    fig.tight_layout()
    curve_path = out / f"{tag}_curves.png"
    fig.savefig(curve_path, dpi=120)
    plt.close(fig)
    return [raster_path, curve_path]
