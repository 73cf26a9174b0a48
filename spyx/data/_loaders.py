"""spyx 1.0's data set loaders, `SHD_loader` and `NMNIST_loader`, on Tonic
(which finds or downloads the files) and Grain (which batches them).

Each loader yields `State(obs, labels)` batches: ``obs`` is ``uint8`` with
the time axis packed into bits on axis 1 (``[B, ceil(T / 8), ...]``), as in
spyx 1.0; unpack with ``jnp.unpackbits(obs, axis=1)[:, :T]``.

Needs the optional ``data`` extra (Grain, Tonic): ``pip install -e ".[data]"``.
"""

import os
from typing import Any, cast

import jax.numpy as jnp
import numpy as np
from tonic import datasets, transforms
from tonic.io import make_structured_array

from ._encode import check_count
from ._grain import GrainLoader, SpyxMapDataset, TonicSource

__all__ = ["NMNIST_loader", "SHD_loader"]

_SHD_UNITS = 700


class SHD(datasets.SHD):
    """Tonic's SHD, reading spike times as float64 and dropping the
    non-finite ones a few samples carry (Tonic casts them to garbage
    integer times). (Tonic keeps a data set in a folder named after its
    class, hence the name.)"""

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        import h5py

        path = os.path.join(self.location_on_system, self.data_filename)
        with h5py.File(path, "r") as f:
            all_times, all_units, labels = (  # SHD's datasets
                cast(h5py.Dataset, f[k])
                for k in ("spikes/times", "spikes/units", "labels")
            )
            times = np.asarray(all_times[index], np.float64)
            units = np.asarray(all_units[index])
            target = int(labels[index])
        keep = np.isfinite(times)
        events = make_structured_array(
            times[keep] * 1e6, units[keep], 1, dtype=self.dtype
        )
        if self.transform is not None:
            events = self.transform(events)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return events, target


class _SHDRaster:
    """SHD events (times in microseconds) as binary frames
    ``[sample_T, channels]``: step ``k`` covers ``[k, k + 1) / sample_T``
    seconds (later events are dropped), channel ``c`` the units
    ``[c, c + 1) * 700 / channels``."""

    def __init__(self, sample_T: int, channels: int):
        self.sample_T, self.channels = sample_T, channels

    def __call__(self, events: np.ndarray) -> np.ndarray:
        step = np.floor(events["t"] * 1e-6 * self.sample_T).astype(np.int64)
        channel = np.floor(events["x"] * self.channels / _SHD_UNITS).astype(np.int64)
        keep = (step >= 0) & (step < self.sample_T)
        frames = np.zeros((self.sample_T, self.channels), np.uint8)
        frames[step[keep], np.clip(channel[keep], 0, self.channels - 1)] = 1
        return frames


class _TonicLoader:
    """What both loaders share: a Grain loader per split of Tonic data sets
    (the training one shuffled with `key`), and one epoch per call."""

    def _make_loaders(
        self, splits: dict, batch_size: int, key: int, worker_count: int | None
    ) -> None:
        self._splits = splits
        self._loaders = {
            split: GrainLoader(
                SpyxMapDataset(TonicSource(ds)),
                batch_size,
                shuffle=split == "train",
                seed=key,
                worker_count=worker_count,
            )
            for split, ds in splits.items()
        }

    def train_epoch(self) -> Any:
        """An iterator over one epoch of shuffled training batches."""
        return iter(self._loaders["train"])

    def test_epoch(self) -> Any:
        """An iterator over the test batches, in order."""
        return iter(self._loaders["test"])


class SHD_loader(_TonicLoader):
    """The Spiking Heidelberg Digits, as spyx 1.0 loads them.

    Each recording (700 cochlea channels, about a second) is binned into
    `sample_T` steps of ``1 / sample_T`` seconds and `channels` channels (1 if
    any spike falls in the bin); 20 classes. Tonic finds the files in
    ``download_dir/SHD`` (``shd_train.h5``, ``shd_test.h5``) or downloads
    them.

    Args:
        batch_size: examples per batch.
        sample_T: time steps per example.
        channels: input channels (700 / channels units each).
        key: the shuffling seed of the training set.
        download_dir: where Tonic keeps the data.
        worker_count: Grain workers; ``None`` half the cores (at most 4),
            ``0`` none.

    Attributes:
        obs_shape: ``(channels,)``.
        act_shape: ``(20,)``, the classes.

    Example:

    ```py
    loader = spyx.data.SHD_loader(batch_size=256, sample_T=128, channels=128)
    for obs, labels in loader.train_epoch():  # obs: [256, 16, 128] uint8
        x = jnp.unpackbits(obs, axis=1)  # [256, 128, 128], batch-major
    ```
    """

    def __init__(
        self,
        batch_size: int = 256,
        sample_T: int = 128,
        channels: int = 128,
        key: int = 0,
        download_dir: str = "./data",
        worker_count: int | None = None,
    ):
        self.batch_size = check_count("SHD_loader", "batch_size", batch_size)
        self.sample_T = check_count("SHD_loader", "sample_T", sample_T)
        self.obs_shape = (check_count("SHD_loader", "channels", channels),)
        self.act_shape = (20,)
        raster = _SHDRaster(self.sample_T, int(channels))
        splits = {
            split: SHD(download_dir, train=split == "train", transform=raster)
            for split in ("train", "test")
        }
        self._make_loaders(splits, batch_size, key, worker_count)

    def prestage(self, split: str = "train") -> tuple[Any, Any]:
        """A whole split as two device arrays, read in this process.

        Returns:
            ``(obs, labels)``: ``uint8 [n_batches, batch_size, ceil(T / 8),
                channels]`` (time packed on axis 2) and ``[n_batches,
                batch_size]``; the trailing partial batch is dropped. Ready for
                `spyx.optimize.compile_fit` once unpacked.
        """
        if split not in self._splits:
            raise ValueError(
                f"prestage: `split` must be 'train' or 'test', got {split!r}."
            )
        source = TonicSource(self._splits[split])
        n = len(source) - len(source) % self.batch_size
        if n == 0:
            raise ValueError(
                f"prestage: the {split} split holds {len(source)} examples, fewer "
                f"than one batch of {self.batch_size}."
            )
        records = [source[i] for i in range(n)]
        obs = np.stack([r["obs"] for r in records])
        labels = np.asarray([r["labels"] for r in records])
        return (
            jnp.asarray(obs.reshape(-1, self.batch_size, *obs.shape[1:])),
            jnp.asarray(labels.reshape(-1, self.batch_size)),
        )


class NMNIST_loader(_TonicLoader):
    """Neuromorphic MNIST, loaded as spyx 1.0 loads it.

    Neuromorphic MNIST, as spyx 1.0 loads it: each recording's events on a
    34 x 34 sensor with two polarities, binned into `sample_T` frames of
    event counts (`tonic.transforms.ToFrame`); 10 classes. Tonic finds the
    files in ``download_dir/NMNIST`` or downloads them.

    Args:
        batch_size: examples per batch.
        sample_T: frames per example.
        key: the shuffling seed of the training set.
        download_dir: where Tonic keeps the data.
        worker_count: Grain workers (see `SHD_loader`).

    Attributes:
        obs_shape: ``(2, 34, 34)``, one frame.
        act_shape: ``(10,)``.

    Example:

    ```py
    loader = spyx.data.NMNIST_loader(batch_size=32, sample_T=40)
    obs, labels = next(loader.train_epoch())  # obs: [32, 5, 2, 34, 34] uint8
    ```
    """

    def __init__(
        self,
        batch_size: int = 32,
        sample_T: int = 40,
        key: int = 0,
        download_dir: str = "./data",
        worker_count: int | None = None,
    ):
        self.batch_size = check_count("NMNIST_loader", "batch_size", batch_size)
        self.sample_T = check_count("NMNIST_loader", "sample_T", sample_T)
        self.obs_shape = (2, 34, 34)
        self.act_shape = (10,)
        to_frames = transforms.ToFrame(
            sensor_size=datasets.NMNIST.sensor_size, n_time_bins=self.sample_T
        )
        splits = {
            split: datasets.NMNIST(
                download_dir, train=split == "train", transform=to_frames
            )
            for split in ("train", "test")
        }
        self._make_loaders(splits, batch_size, key, worker_count)
