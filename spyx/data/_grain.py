"""spyx 1.0's Grain pieces: per-record transforms and a batching loader.

A record is a dict such as ``{"obs": array, "labels": int}``; each transform
reads `input_key` and writes `output_key` (both ``"obs"`` by default), as
Grain's `MapTransform` does. Spike trains are bit-packed along time (axis 0)
with `np.packbits`, so a batch of ``[B, ceil(T / 8), ...]`` ``uint8`` is
unpacked with ``jnp.unpackbits(obs, axis=1)[:, :T]``.

Needs the optional ``data`` extra (Grain): ``pip install -e ".[data]"``.
"""

import os
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import grain.python as grain
import numpy as np

from ._encode import angle_code, check_count, latency

__all__ = [
    "AngleCode",
    "GrainLoader",
    "LatencyCode",
    "RateCode",
    "ShiftAugment",
    "SpyxMapDataset",
    "State",
    "TonicSource",
]


class State(NamedTuple):
    """One batch of a loader: bit-packed spikes and labels.

    One batch: ``obs`` (bit-packed spikes) and ``labels``, spyx 1.0's
    batch type (a tuple, so ``x, y = batch`` works)."""

    obs: Any
    labels: Any


class _RecordTransform(grain.MapTransform):
    """A Grain transform of one record dict, under spyx 1.0's argument name."""

    # Grain's `map(self, element)` is unannotated (a type checker infers
    # `-> None`); spyx 1.0 named the argument `record` and returns the dict.
    def map(self, record: dict) -> dict:  # pyright: ignore[reportIncompatibleMethodOverride]
        raise NotImplementedError


class RateCode(_RecordTransform):
    """Rate coding of values in [0, 1] (a Grain transform).

    Rate coding of values in ``[0, 1]``: each of `sample_T` steps fires
    with probability ``value * max_r``; the spikes are packed along time.

    Example:

    ```python
    record = RateCode(sample_T=16).map({"obs": np.full((4,), 0.5)})
    record["obs"].shape  # (2, 4): 16 steps packed into 2 bytes
    ```
    """

    def __init__(
        self,
        sample_T: int,
        max_r: float = 0.75,
        input_key: str = "obs",
        output_key: str = "obs",
    ):
        self.sample_T = check_count("RateCode", "sample_T", sample_T)
        self.max_r = float(max_r)
        self.input_key, self.output_key = input_key, output_key
        self._rng = np.random.default_rng()

    def map(self, record: dict) -> dict:
        """Encode ``record[input_key]`` into ``record[output_key]``."""
        data = np.asarray(record[self.input_key], np.float64)
        spikes = self._rng.random((self.sample_T, *data.shape)) < data * self.max_r
        record[self.output_key] = np.packbits(spikes.astype(np.uint8), axis=0)
        return record


class LatencyCode(_RecordTransform):
    """Latency coding of values in [0, 1] (a Grain transform).

    Latency coding: a value ``v`` in ``[0, 1]`` fires once, at step
    ``round((1 - v) (sample_T - 1))``; values at or below `threshold` never
    fire. Packed along time, like `RateCode`.

    Example: ``LatencyCode(8).map({"obs": np.array([1.0, 0.0])})``.
    """

    def __init__(
        self,
        sample_T: int,
        threshold: float = 0.01,
        input_key: str = "obs",
        output_key: str = "obs",
    ):
        self.sample_T = check_count("LatencyCode", "sample_T", sample_T)
        self.threshold = float(threshold)
        self.input_key, self.output_key = input_key, output_key

    def map(self, record: dict) -> dict:
        """Encode ``record[input_key]`` into ``record[output_key]``."""
        data = np.asarray(record[self.input_key], np.float32)
        spikes = latency(data, self.sample_T, self.threshold, np.uint8)
        record[self.output_key] = np.packbits(np.asarray(spikes), axis=0)
        return record


class AngleCode(_RecordTransform):
    """One-hot coding of a value over evenly spaced bins (a Grain transform).

    One-hot coding of a value over `neuron_count` bins with edges
    ``linspace(min_val, max_val, neuron_count)``, as `spyx.data.angle_code`
    (every value lights exactly one neuron); ``uint8``.

    Example: ``AngleCode(8, 0.0, 1.0).map({"obs": np.array([0.5])})``.
    """

    def __init__(
        self,
        neuron_count: int,
        min_val: float,
        max_val: float,
        input_key: str = "obs",
        output_key: str = "obs",
    ):
        self.neuron_count = check_count("AngleCode", "neuron_count", neuron_count, 2)
        self.min_val, self.max_val = float(min_val), float(max_val)
        self.input_key, self.output_key = input_key, output_key
        self._encode = angle_code(self.neuron_count, self.min_val, self.max_val)

    def map(self, record: dict) -> dict:
        """Encode ``record[input_key]`` into ``record[output_key]``."""
        one_hot = self._encode(np.asarray(record[self.input_key]))
        record[self.output_key] = np.asarray(one_hot, np.uint8)
        return record


class ShiftAugment(_RecordTransform):
    """A random roll along some axes (a Grain transform).

    Roll ``record[input_key]`` by a random whole number of positions in
    ``[-max_shift, max_shift)`` along each axis in `axes`.

    Example: ``ShiftAugment(2, axes=(0, 1)).map({"obs": np.eye(4)})``.
    """

    def __init__(
        self, max_shift: int = 10, axes: Sequence[int] = (-1,), input_key: str = "obs"
    ):
        self.max_shift = check_count("ShiftAugment", "max_shift", max_shift)
        self.axes = tuple(int(a) for a in axes)
        self.input_key = input_key
        self._rng = np.random.default_rng()

    def map(self, record: dict) -> dict:
        """Shift ``record[input_key]`` in place of itself."""
        shift = self._rng.integers(-self.max_shift, self.max_shift, len(self.axes))
        record[self.input_key] = np.roll(
            record[self.input_key], tuple(int(s) for s in shift), axis=self.axes
        )
        return record


class TonicSource:
    """A Tonic data set as records of bit-packed spikes and labels.

    A Tonic data set as records ``{"obs": packed spikes, "labels": int}``:
    each sample's frames (size-1 axes squeezed; a count above 0 is a spike)
    packed along time."""

    def __init__(self, ds: Any):
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> dict:
        frames, label = self.ds[i]
        spikes = np.squeeze(np.asarray(frames)) > 0  # event counts to spikes
        return {"obs": np.packbits(spikes, axis=0), "labels": label}


class SpyxMapDataset(grain.MapDataset):
    """Any ``len`` + ``getitem`` source as a Grain `MapDataset`."""

    def __init__(self, source: Any):
        super().__init__()
        self._source = source

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: Any) -> Any:
        return self._source[index]

    def __str__(self) -> str:
        return f"SpyxMapDataset({type(self._source).__name__}, {len(self)} records)"


def _default_workers() -> int:
    """Half the CPU cores, at most 4 (Tonic's decoding is Python, one core
    each; more workers cost memory for little gain)."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


class GrainLoader:
    """Batches of a data set through Grain, one epoch per iteration.

    Batches of a data set through Grain's `DataLoader`, one epoch per
    iteration, as `State(obs, labels)`; a trailing partial batch is dropped.

    Args:
        dataset: a Grain `MapDataset` or any ``len`` + ``getitem`` source of
            records ``{"obs": ..., "labels": ...}``.
        batch_size: records per batch.
        shuffle: shuffle the order; each epoch (each iteration) gets its own
            order, derived from `seed`.
        seed: the shuffling seed.
        worker_count: Grain worker processes; ``None`` picks half the cores
            (at most 4), ``0`` reads in this process.

    Example: ``for x, y in GrainLoader(source, 32, shuffle=True): ...``.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        worker_count: int | None = None,
    ):
        batch_size = check_count("GrainLoader", "batch_size", batch_size)
        if len(dataset) < batch_size:
            raise ValueError(
                f"GrainLoader: the data set holds {len(dataset)} records, fewer than "
                f"one batch of {batch_size}."
            )
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.worker_count = _default_workers() if worker_count is None else worker_count
        self._epoch = 0

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self.dataset) // self.batch_size

    def __iter__(self) -> Iterator[State]:
        sampler = grain.IndexSampler(
            num_records=len(self.dataset),
            shuffle=self.shuffle,
            seed=self.seed + self._epoch,
            num_epochs=1,
            shard_options=grain.NoSharding(),
        )
        self._epoch += 1
        loader = grain.DataLoader(
            data_source=self.dataset,
            sampler=sampler,
            worker_count=self.worker_count,
            operations=[grain.Batch(self.batch_size, drop_remainder=True)],
        )
        for batch in loader:
            yield State(obs=batch["obs"], labels=batch["labels"])
