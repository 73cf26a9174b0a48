"""Save and restore Equinox models with `eqx.tree_serialise_leaves`."""

import os
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

__all__ = ["restore", "save"]


def save(path: str | os.PathLike, model: Any) -> Path:
    """Serialise `model`'s leaves to the file `path`, replacing it atomically
    (a temporary file is renamed once complete, so an interrupted save leaves
    the previous file readable).

    Example: ``spyx_eqx.save("model.eqx", model)``.
    """
    path = Path(path).absolute()
    tmp = path.with_name(path.name + ".saving")
    eqx.tree_serialise_leaves(tmp, model)
    os.replace(tmp, path)
    return path


def restore(path: str | os.PathLike, like: Any) -> Any:
    """A copy of `like` with the leaves stored at `path`.

    Raises `ValueError` naming the leaf when a stored array's shape or dtype
    differs from `like`'s (the model must be built the same way).

    Example: ``model = spyx_eqx.restore("model.eqx", build_model())``.
    """
    path = Path(path).absolute()
    if not path.exists():
        raise FileNotFoundError(f"restore: no checkpoint at {path}.")
    try:
        restored = eqx.tree_deserialise_leaves(path, like)
    except Exception as err:  # equinox reports mismatches in its own words
        raise ValueError(
            f"restore: the file at {path} does not fit this model ({err})."
        ) from err
    pairs = zip(
        jax.tree_util.tree_leaves_with_path(like),
        jax.tree.leaves(restored),
        strict=True,
    )
    for (key, want), got in pairs:
        if eqx.is_array(want) and (
            np.shape(got) != np.shape(want) or got.dtype != want.dtype
        ):
            raise ValueError(
                f"restore: leaf {jax.tree_util.keystr(key)} is {got.dtype}"
                f"{list(np.shape(got))} in the file but the model expects "
                f"{want.dtype}{list(np.shape(want))}."
            )
    return restored
