"""Spike data: encoders, augmentation and data set loaders.

- `rate_code`, `latency_code`: dense values in ``[0, 1]`` to spike trains
  (this library's time-major form, or spyx 1.0's encoder factories).
- `angle_code`, `shift_augment`, `shuffler`: spyx 1.0's pure helpers (a
  one-hot bin encoder, a random roll for augmentation, a jitted shuffle into
  batches), same signatures and semantics.
- `load_shd`: the Spiking Heidelberg Digits HDF5 layout (``spikes/times``,
  ``spikes/units``, ``labels``) binned into bit-packed dense frames, with a
  seeded batching iterator that yields time-major ``[T, B, units]`` arrays
  (needs only h5py).
- spyx 1.0's Grain and Tonic pieces, from the optional ``data`` extra
  (``pip install -e ".[data]"``): the loaders `SHD_loader` and
  `NMNIST_loader`, the record transforms `RateCode`, `LatencyCode`,
  `AngleCode` and `ShiftAugment`, and `TonicSource`, `SpyxMapDataset`,
  `GrainLoader`, `State`. Without the extra, using one of them raises an
  `ImportError` that names it.

Example (with ``shd_train.h5`` from the SHD data set; a fragment, so it is
fenced ``py`` and not run by the documentation tests):

```py
data = spyx.data.load_shd("shd_train.h5", num_steps=100)
for x, y in data.batches(64, seed=0):   # x: [100, 64, 700] float32
    ...
```
"""

import importlib
from typing import TYPE_CHECKING, Any

from ._encode import angle_code, latency_code, rate_code, shift_augment, shuffler
from ._shd import SpikeDataset, load_shd

if TYPE_CHECKING:  # imported on first use (below): they need the "data" extra
    from ._grain import (
        AngleCode,
        GrainLoader,
        LatencyCode,
        RateCode,
        ShiftAugment,
        SpyxMapDataset,
        State,
        TonicSource,
    )
    from ._loaders import NMNIST_loader, SHD_loader

# Names that need the optional "data" extra, and the module that holds each.
_OPTIONAL = {
    "AngleCode": "_grain",
    "GrainLoader": "_grain",
    "LatencyCode": "_grain",
    "RateCode": "_grain",
    "ShiftAugment": "_grain",
    "SpyxMapDataset": "_grain",
    "State": "_grain",
    "TonicSource": "_grain",
    "NMNIST_loader": "_loaders",
    "SHD_loader": "_loaders",
}

__all__ = [
    "AngleCode",
    "GrainLoader",
    "LatencyCode",
    "NMNIST_loader",
    "RateCode",
    "SHD_loader",
    "ShiftAugment",
    "SpikeDataset",
    "SpyxMapDataset",
    "State",
    "TonicSource",
    "angle_code",
    "latency_code",
    "load_shd",
    "rate_code",
    "shift_augment",
    "shuffler",
]


def __getattr__(name: str) -> Any:
    if name not in _OPTIONAL:
        raise AttributeError(f"module 'spyx.data' has no attribute {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{_OPTIONAL[name]}")
    except ImportError as err:
        raise ImportError(
            f"spyx.data.{name} needs the optional 'data' extra (Grain and Tonic), "
            f'which is not installed ({err}): pip install -e ".[data]" from a '
            f"checkout, or pip install grain tonic."
        ) from err
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
