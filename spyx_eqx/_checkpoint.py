"""Save and restore Equinox models with `eqx.tree_serialise_leaves`.

A file holds a short header, then the leaves as `eqx.tree_serialise_leaves`
writes them. The header records the model's description (each module's type
and static fields, each array's dtype and shape) and the SHA-256 of the
leaves, so `restore` refuses a file saved from another model, or one that was
truncated or damaged, naming what differs, before building anything.
Files written by `eqx.tree_serialise_leaves` alone (no header) still load.
"""

import dataclasses
import io
import json
import os
from pathlib import Path
from typing import Any, TypeVar

import equinox as eqx
import jax
import numpy as np

from spyx.core import _frontend as frontend

__all__ = ["describe", "restore", "save"]

Model = TypeVar("Model")  # `restore` returns a model of the type it is given
_MAGIC = b"SPYX-EQX-CHECKPOINT-1\n"
_NUMBER = (bool, int, float, str)


def describe(model: Any) -> dict[str, str]:
    """What a checkpoint records about each module and array.

    One entry per module and array of `model`, keyed by its path:
    ``"LIF(hidden_shape=(16,), threshold=1.0, reset='zero')"`` or
    ``"float32[16]"`` (and the spike function, ``"superspike(k=25.0)"``).

    This is what a checkpoint records and `restore` compares.

    Example: ``spyx_eqx.describe(spyx_eqx.LIF((4,), beta=0.9))["."]``.
    """
    out: dict[str, str] = {}

    def walk(obj: Any, path: str) -> None:
        if isinstance(obj, eqx.Module):
            fields = dataclasses.fields(obj)
            settings, children = [], []
            for f in fields:
                value = getattr(obj, f.name, None)
                if frontend.left_out(f.name, value):  # inference mode, ...
                    continue
                if value is None and f.default is None:
                    continue  # left at its default (PSU_LIF's `reset`)
                # hyperparameters: static fields, and plain numbers such as
                # a threshold (a float leaf, like eqx.nn.Dropout's `p`)
                if f.metadata.get("static", False) or isinstance(value, _NUMBER):
                    text = frontend.describe_value(value)
                    if text is not None:
                        settings.append(f"{f.name}={text}")
                else:
                    children.append(f)
            out[path or "."] = f"{type(obj).__name__}({', '.join(settings)})"
            for f in children:
                walk(getattr(obj, f.name, None), f"{path}.{f.name}")
        elif isinstance(obj, list | tuple):
            for i, v in enumerate(obj):
                walk(v, f"{path}[{i}]")
        elif isinstance(obj, dict):
            for k in sorted(obj, key=str):
                walk(obj[k], f"{path}[{k!r}]")
        elif eqx.is_array(obj):
            out[path] = f"{np.dtype(obj.dtype).name}{list(np.shape(obj))}"
        elif callable(obj) and (text := frontend.describe_value(obj)) is not None:
            out[path] = text  # e.g. the spike function

    walk(model, "")
    return out


def _is_mode(path: tuple) -> bool:
    last = path[-1] if path else None
    return getattr(last, "name", None) in frontend.MODE_SETTINGS


def save(path: str | os.PathLike, model: Any) -> Path:
    """Save a model to a file, atomically.

    Serialise `model`'s leaves to the file `path`, replacing it atomically
    (a temporary file is renamed once complete and flushed to disk, so an
    interrupted save leaves the previous file readable).

    Example: ``spyx_eqx.save("model.eqx", model)``.
    """
    path = Path(path).absolute()
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, model)
    body = buffer.getvalue()
    header = json.dumps(
        {"sha256": frontend.digest(body), "model": describe(model)}, sort_keys=True
    ).encode()
    tmp = path.with_name(path.name + ".saving")
    with open(tmp, "wb") as f:
        f.write(_MAGIC + len(header).to_bytes(8, "little") + header + body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def _read(path: Path) -> tuple[dict | None, bytes]:
    """``(header, leaves)`` of a file; ``header`` is ``None`` for a plain
    `eqx.tree_serialise_leaves` file."""
    data = path.read_bytes()
    if not data.startswith(_MAGIC):
        return None, data
    start = len(_MAGIC) + 8
    size = int.from_bytes(data[len(_MAGIC) : start], "little")
    try:
        header = json.loads(data[start : start + size])
    except ValueError:
        header = None
    body = data[start + size :]
    if header is None or frontend.digest(body) != header.get("sha256"):
        raise ValueError(
            f"restore: the file at {path} is truncated or corrupted (its contents "
            f"do not match the checksum written with it); nothing was restored."
        )
    return header, body


def restore(path: str | os.PathLike, like: Model) -> Model:
    """A copy of `like` with the leaves stored at `path`.

    Raises `ValueError`, before building anything, when the file was saved
    from a model that differs from `like` (naming each differing module or
    array: type, static fields such as ``hidden_shape`` or ``reset``, dtype,
    shape), or when the file is truncated or corrupted. Every leaf, the
    neurons' thresholds included, comes from the file.

    Example: ``model = spyx_eqx.restore("model.eqx", build_model())``.
    """
    path = Path(path).absolute()
    if not path.exists():
        raise FileNotFoundError(f"restore: no checkpoint at {path}.")
    header, body = _read(path)
    if header is not None:
        frontend.compare_descriptions(
            f"restore: the file at {path}", header["model"], describe(like)
        )
    try:
        restored = eqx.tree_deserialise_leaves(io.BytesIO(body), like)
    except Exception as err:  # equinox reports mismatches in its own words
        raise ValueError(
            f"restore: the file at {path} does not fit this model ({err})."
        ) from err
    # the mode (eqx.nn.inference_mode) is `like`'s, not the file's
    restored = jax.tree_util.tree_map_with_path(
        lambda path, want, got: want if _is_mode(path) else got, like, restored
    )
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
