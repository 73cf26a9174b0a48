"""Spike data: encoders for dense data and a loader for event data sets.

- `rate_code`, `latency_code`: dense values in ``[0, 1]`` to time-major spike
  trains ``[T, *shape]``.
- `angle_code`, `shift_augment`, `shuffler`: spyx 1.0's pure helpers (a
  one-hot bin encoder, a random roll for augmentation, a jitted shuffle into
  batches), same signatures and semantics.
- `load_shd`: the Spiking Heidelberg Digits HDF5 layout (``spikes/times``,
  ``spikes/units``, ``labels``) binned into bit-packed dense frames, with a
  seeded batching iterator that yields time-major ``[T, B, units]`` arrays.

Example (with ``shd_train.h5`` from the SHD data set; a fragment, so it is
fenced ``py`` and not run by the documentation tests):

```py
data = spyx.data.load_shd("shd_train.h5", num_steps=100)
for x, y in data.batches(64, seed=0):   # x: [100, 64, 700] float32
    ...
```
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.typing import ArrayLike

__all__ = [
    "SpikeDataset",
    "angle_code",
    "latency_code",
    "load_shd",
    "rate_code",
    "shift_augment",
    "shuffler",
]


def _check_steps(name: str, num_steps: Any) -> int:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int | np.integer):
        raise TypeError(f"{name}: `num_steps` must be an int, got {num_steps!r}.")
    if num_steps <= 0:
        raise ValueError(f"{name}: `num_steps` must be positive, got {num_steps}.")
    return int(num_steps)


def rate_code(
    x: ArrayLike,
    num_steps: int,
    *,
    key: Array,
    gain: float = 1.0,
    dtype: Any = jnp.float32,
) -> Array:
    """Bernoulli rate coding: each step fires with probability ``gain * x``.

    ``s[t, ...] ~ Bernoulli(clip(gain * x, 0, 1))``, independent over time.

    Args:
        x: values in ``[0, 1]``, any shape (e.g. ``[B, features]``).
        num_steps: number of time steps ``T``.
        key: a `jax.random` key (same key, same spikes).
        gain: scale applied to `x` before clipping to a probability.
        dtype: dtype of the spikes.

    Returns:
        spikes of shape ``[T, *x.shape]``, time-major.

    Example: ``rate_code(images, 25, key=jax.random.key(0))`` maps
    ``[B, 64]`` values in ``[0, 1]`` to ``[25, B, 64]`` spikes.
    """
    num_steps = _check_steps("rate_code", num_steps)
    p = jnp.clip(gain * jnp.asarray(x, jnp.float32), 0.0, 1.0)
    return jax.random.bernoulli(key, p, (num_steps, *p.shape)).astype(dtype)


def latency_code(
    x: ArrayLike,
    num_steps: int,
    *,
    threshold: float = 0.0,
    dtype: Any = jnp.float32,
) -> Array:
    """Latency (time-to-first-spike) coding: larger values fire earlier.

    A value ``v > threshold`` fires once, at step ``round((1 - v) (T - 1))``:
    1 fires at step 0, values near 0 at the last step; values at or below
    `threshold` never fire. Deterministic.

    Args:
        x: values in ``[0, 1]`` (clipped), any shape.
        num_steps: number of time steps ``T``.
        threshold: values at or below it stay silent.
        dtype: dtype of the spikes.

    Returns:
        spikes of shape ``[T, *x.shape]`` with at most one spike per
        input.

    Example: ``latency_code(jnp.array([1.0, 0.5]), 5)[:, 0]`` is
    ``[1, 0, 0, 0, 0]``.
    """
    num_steps = _check_steps("latency_code", num_steps)
    v = jnp.clip(jnp.asarray(x, jnp.float32), 0.0, 1.0)
    t_spike = jnp.round((1.0 - v) * (num_steps - 1)).astype(jnp.int32)
    steps = jnp.arange(num_steps).reshape((num_steps,) + (1,) * v.ndim)
    return ((steps == t_spike) & (v > threshold)).astype(dtype)


def shift_augment(max_shift: int = 10, axes: tuple[int, ...] = (-1,)) -> Any:
    """A jitted ``f(data, key)`` that rolls `data` by one random whole number
    of positions in ``[-max_shift, max_shift)`` along each axis in `axes`
    (the same shift for the whole array, e.g. a batch of spike trains
    shifted across channels).

    Example:

    ```python
    augment = spyx.data.shift_augment(max_shift=5, axes=(-1,))
    x = augment(jnp.ones((100, 32, 700)), jax.random.key(0))  # same shape
    ```
    """
    if isinstance(max_shift, bool) or not isinstance(max_shift, int | np.integer):
        raise TypeError(
            f"shift_augment: `max_shift` must be an int, got {max_shift!r}."
        )
    if max_shift < 1:
        raise ValueError(f"shift_augment: `max_shift` must be >= 1, got {max_shift}.")
    axes = tuple(int(a) for a in axes)

    @jax.jit
    def shift(data: Array, key: Array) -> Array:
        amounts = jax.random.randint(key, (len(axes),), -max_shift, max_shift)
        return jnp.roll(data, amounts, axes)

    return shift


def shuffler(dataset: tuple[Any, Any], batch_size: int) -> Any:
    """A jitted ``f(dataset, key)`` that shuffles ``(x, y)`` together and
    reshapes them into ``[num_batches, batch_size, ...]``, dropping the
    ``len(y) % batch_size`` examples left over (different ones each call).

    `dataset` fixes the shapes: ``x`` is ``[N, ...]`` and ``y`` ``[N]``.

    Example:

    ```python
    x, y = jnp.ones((200, 8)), jnp.arange(200) % 2  # N = 200 examples
    shuffle = spyx.data.shuffler((x, y), batch_size=64)
    xb, yb = shuffle((x, y), jax.random.key(0))  # xb: [3, 64, 8]
    ```
    """
    x, y = dataset
    n = int(np.shape(y)[0])
    if np.shape(x)[0] != n:
        raise ValueError(
            f"shuffler: `x` and `y` must hold the same number of examples, got "
            f"{np.shape(x)[0]} and {n}."
        )
    if isinstance(batch_size, bool) or not 1 <= int(batch_size) <= n:
        raise ValueError(
            f"shuffler: `batch_size` must be between 1 and the {n} examples, got "
            f"{batch_size!r}."
        )
    keep = n - n % batch_size
    obs_shape = tuple(np.shape(x)[1:])

    @jax.jit
    def shuffle(dataset: tuple[Array, Array], key: Array) -> tuple[Array, Array]:
        x, y = dataset
        order = jax.random.permutation(key, n)[:keep]
        return (
            jnp.reshape(x[order], (-1, batch_size, *obs_shape)),
            jnp.reshape(y[order], (-1, batch_size)),
        )

    return shuffle


def angle_code(neuron_count: int, min_val: float, max_val: float) -> Any:
    """A jitted one-hot encoder of values over ``neuron_count`` bins whose
    edges are ``linspace(min_val, max_val, neuron_count)``.

    A value ``v`` lights neuron ``i`` with ``edges[i - 1] <= v < edges[i]``
    (`jnp.digitize`): values below `min_val` light neuron 0, and values at or
    above `max_val` light none (all zeros), as in spyx 1.0.

    Returns:
        ``f(obs) -> obs.shape + (neuron_count,)``.

    Example: ``spyx.data.angle_code(4, 0.0, 3.0)(jnp.array([1.5]))`` is
    ``[[0., 0., 1., 0.]]``.
    """
    if isinstance(neuron_count, bool) or int(neuron_count) < 2:
        raise ValueError(
            f"angle_code: `neuron_count` must be an int >= 2, got {neuron_count!r}."
        )
    if not min_val < max_val:
        raise ValueError(
            f"angle_code: `min_val` must be below `max_val`, got {min_val} and "
            f"{max_val}."
        )
    edges = jnp.linspace(min_val, max_val, int(neuron_count))

    @jax.jit
    def encode(obs: ArrayLike) -> Array:
        return jax.nn.one_hot(jnp.digitize(obs, edges), int(neuron_count))

    return encode


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
    num_steps = _check_steps("load_shd", num_steps)
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
        times, units, labels = (f[k] for k in _SHD_KEYS)
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
