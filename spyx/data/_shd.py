"""`load_shd`: the Spiking Heidelberg Digits HDF5 layout, binned into
bit-packed frames (`SpikeDataset`), read with h5py alone."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
from jax.typing import ArrayLike

from ._encode import check_steps

__all__ = ["SpikeDataset", "load_shd"]


@dataclass(frozen=True)
class SpikeDataset:
    """Binned event data, one bit per (sample, step, unit).

    Attributes:
        packed: ``uint8`` array ``[N, T, ceil(units / 8)]``, bits along units.
        labels: ``int32`` array ``[N]``.
        num_units: number of input units (700 for SHD).

    Example:

    ```py
    data = load_shd("shd_train.h5")  # needs the SHD file
    x = data.dense([0, 1, 2])  # [T, 3, 700]
    ```
    """

    packed: np.ndarray
    labels: np.ndarray
    num_units: int

    @property
    def num_steps(self) -> int:
        return self.packed.shape[1]

    def __len__(self) -> int:
        return self.packed.shape[0]

    def dense(self, index: ArrayLike) -> np.ndarray:
        """Samples `index` as a time-major float32 array ``[T, len(index), units]``."""
        bits = np.unpackbits(self.packed[np.asarray(index)], axis=-1)
        return np.ascontiguousarray(
            bits[..., : self.num_units].astype(np.float32).transpose(1, 0, 2)
        )

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(x, labels)`` with `x` of shape ``[T, B, units]``.

        Args:
            batch_size: examples per batch.
            shuffle: permute the order with `seed` (same seed, same order).
            seed: seed of the permutation.
            drop_last: drop a final batch smaller than `batch_size`.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise TypeError(
                f"batches: `batch_size` must be an int, got {batch_size!r}."
            )
        if batch_size <= 0:
            raise ValueError(
                f"batches: `batch_size` must be positive, got {batch_size}."
            )
        order = np.arange(len(self))
        if shuffle:
            order = np.random.default_rng(seed).permutation(len(self))
        stop = len(self) - len(self) % batch_size if drop_last else len(self)
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            yield self.dense(idx), self.labels[idx]


_SHD_KEYS = ("spikes/times", "spikes/units", "labels")


def load_shd(
    path: str | Path,
    *,
    num_steps: int = 100,
    duration: float = 1.4,
    num_units: int = 700,
    max_samples: int | None = None,
) -> SpikeDataset:
    """Load a file in the Spiking Heidelberg Digits HDF5 layout and bin it.

    The file holds, per sample ``i``, spike times ``spikes/times[i]``
    (seconds) and unit indices ``spikes/units[i]``, and ``labels[i]``. Step
    ``k`` covers times ``[k, k + 1) * duration / num_steps``; a bin is 1 if
    any spike of the unit falls in it. Spikes at or after `duration` are
    dropped (SHD samples are shorter than 1.4 s); an empty sample gives
    all-zero frames.

    Args:
        path: the ``.h5`` file.
        num_steps: number of time bins ``T``.
        duration: seconds covered by the bins.
        num_units: number of input units; a unit index outside
            ``[0, num_units)`` is an error.
        max_samples: load only the first samples (for quick runs).

    Returns:
        a `SpikeDataset`.

    Raises `ValueError` naming the sample for a corrupt file: missing
    datasets, times and units of different lengths, negative times, unknown
    units, or labels that are not non-negative integers.

    Example: ``data = load_shd("shd_test.h5", num_steps=100)``, then
    ``for x, y in data.batches(64): ...``.
    """
    try:
        import h5py
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "load_shd needs h5py: pip install 'spyx-snn[examples]' or pip install h5py"
        ) from err
    num_steps = check_steps("load_shd", num_steps)
    if not duration > 0:
        raise ValueError(f"load_shd: `duration` must be positive, got {duration}.")
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(
            f"load_shd: {path} is not a readable HDF5 file ({err})."
        ) from err
    with f:
        missing = [k for k in _SHD_KEYS if k not in f]
        if missing:
            raise ValueError(
                f"load_shd: {path} lacks {missing}; expected the SHD layout "
                f"{list(_SHD_KEYS)}."
            )
        # the SHD layout: each key a dataset (not an HDF5 group)
        times, units, labels = (cast(h5py.Dataset, f[k]) for k in _SHD_KEYS)
        n = len(labels)
        if len(times) != n or len(units) != n:
            raise ValueError(
                f"load_shd: {path} is inconsistent: {len(times)} spike-time "
                f"lists, {len(units)} unit lists, {n} labels."
            )
        if max_samples is not None:
            n = min(n, max_samples)
        labels = np.asarray(labels[:n])
        if not np.issubdtype(labels.dtype, np.integer) or (labels < 0).any():
            raise ValueError(
                f"load_shd: `labels` must be non-negative integers, got dtype "
                f"{labels.dtype} (min {labels.min() if n else 'n/a'})."
            )
        packed = np.zeros((n, num_steps, (num_units + 7) // 8), np.uint8)
        frame = np.zeros((num_steps, num_units), np.uint8)
        for i in range(n):
            t = np.asarray(times[i], np.float64)
            u = np.asarray(units[i])
            if t.shape != u.shape:
                raise ValueError(
                    f"load_shd: sample {i} has {t.size} spike times but {u.size} "
                    f"unit indices."
                )
            if t.size and (t.min() < 0 or not np.isfinite(t).all()):
                raise ValueError(
                    f"load_shd: sample {i} has negative or non-finite times."
                )
            bad = u[(u < 0) | (u >= num_units)]
            if bad.size:
                raise ValueError(
                    f"load_shd: sample {i} has unit index {int(bad[0])}, outside "
                    f"[0, {num_units})."
                )
            keep = t < duration
            bins = np.floor(t[keep] * (num_steps / duration)).astype(np.int64)
            frame[:] = 0
            frame[np.minimum(bins, num_steps - 1), u[keep].astype(np.int64)] = 1
            packed[i] = np.packbits(frame, axis=-1)
    return SpikeDataset(packed, labels.astype(np.int32), num_units)
