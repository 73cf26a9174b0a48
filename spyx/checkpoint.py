"""Save and restore `spyx.nn` models with Orbax.

`save` writes every variable of a model (`nnx.state`: parameters, the
neurons' thresholds, any other variable) to a checkpoint folder, with a
manifest (`MANIFEST`) that records the model's description (each module's
type and hyperparameters, each variable's dtype and shape) and the SHA-256 of
every file. `restore` loads a checkpoint into a model built the same way,
after checking the files against the manifest and the model against the
description, so a truncated or damaged checkpoint, or one saved from another
model, is refused by name before anything changes. A save goes to a
temporary folder that replaces the old one only when complete, so an
interrupted save (even a killed process) leaves the previous checkpoint
readable.

Example:

```python
def build_model(seed):
    return spyx.nn.Sequential(
        nnx.Linear(8, 16, rngs=nnx.Rngs(seed)),
        spyx.nn.LIF((16,), rngs=nnx.Rngs(seed)),
    )


model = build_model(0)
spyx.checkpoint.save("ckpt/model", model)
fresh = build_model(1)  # the same architecture, other values
spyx.checkpoint.restore("ckpt/model", fresh)  # now equal to model
```
"""

import json
import os
import shutil
from pathlib import Path
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from .core import _frontend as frontend

__all__ = ["MANIFEST", "describe", "restore", "save"]

Model = TypeVar("Model", bound=nnx.Module)  # `restore` returns what it is given

MANIFEST = "spyx_manifest.json"
"""The name of a checkpoint folder's manifest file.

It lists the digests of the folder's files and the model's description."""


def describe(model: nnx.Module) -> dict[str, str]:
    """What a checkpoint records about each module and variable.

    One entry per module and variable of `model`, keyed by its path:
    ``"LIF(hidden_shape=(16,), spike=superspike(k=25.0), reset='zero')"``,
    ``"Param float32[16]"``.

    This is what a checkpoint records and `restore` compares.

    Example: ``spyx.checkpoint.describe(spyx.nn.LIF((4,), beta=0.9))``.
    """
    out: dict[str, str] = {}
    for path, module in nnx.iter_modules(model):
        settings = []
        for name, value in vars(module).items():
            if name.startswith("_") or isinstance(value, nnx.Variable | nnx.Module):
                continue
            if frontend.left_out(name, value):  # a mode (train / eval), ...
                continue
            # of the callables, only a neuron's spike function is part of the
            # model (e.g. "superspike(k=25.0)"); others are initialisers
            text = (
                frontend.describe_value(value)
                if not callable(value) or name == "spike"
                else None
            )
            if text is not None:
                settings.append(f"{name}={text}")
        key = "/".join(map(str, path)) or "."
        out[key] = f"{type(module).__name__}({', '.join(settings)})"
    for path, var in nnx.to_flat_state(nnx.state(model)):
        value = var.get_value() if hasattr(var, "get_value") else var[...]
        out["/".join(map(str, path))] = (
            f"{type(var).__name__} {_dtype_name(value)}{list(np.shape(value))}"
        )
    return out


def _is_key(value: Any) -> bool:
    """A typed PRNG key array (an `nnx.Rngs` stream's key)."""
    return hasattr(value, "dtype") and jnp.issubdtype(value.dtype, jax.dtypes.prng_key)


def _dtype_name(value: Any) -> str:
    return str(value.dtype) if _is_key(value) else np.dtype(value.dtype).name


def _storable(tree: Any) -> Any:
    """Typed PRNG keys as their raw key data (uint32), which Orbax stores."""
    return jax.tree.map(lambda v: jax.random.key_data(v) if _is_key(v) else v, tree)


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): frontend.digest(p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def _check_files(path: Path) -> dict | None:
    """The manifest, after checking every file it lists (``None`` if the
    checkpoint has none, as one written before manifests existed)."""
    manifest_file = path / MANIFEST
    if not manifest_file.exists():
        return None
    try:
        manifest = json.loads(manifest_file.read_text())
        listed = manifest["files"]
    except (ValueError, KeyError):
        raise ValueError(
            f"restore: the checkpoint at {path} is corrupted (its manifest cannot "
            f"be read); nothing was restored."
        ) from None
    found = _digests(path)
    for name, want in listed.items():
        if name not in found:
            raise ValueError(
                f"restore: the checkpoint at {path} is incomplete: {name} is "
                f"missing; nothing was restored."
            )
        if found[name] != want:
            raise ValueError(
                f"restore: the checkpoint at {path} is corrupted: {name} does not "
                f"match the checksum written with it; nothing was restored."
            )
    return manifest


def _flat(tree: Any) -> dict[tuple[str, ...], Any]:
    return {
        tuple(str(k) for k in path): v
        for path, v in nnx.traversals.flatten_mapping(tree).items()
    }


def save(path: str | os.PathLike, model: nnx.Module) -> Path:
    """Write `model`'s variables to the folder `path` (replacing it atomically).

    Returns:
        the absolute path written.

    Example: ``spyx.checkpoint.save("ckpt/model", model)``.
    """
    path = Path(path).absolute()
    tmp = path.with_name(path.name + ".saving")
    old = path.with_name(path.name + ".old")
    if not path.exists() and old.exists():
        # an earlier save was cut off between its two renames: the previous
        # checkpoint, complete, is `old`; put it back before anything else
        os.replace(old, path)
    for p in (tmp, old):
        if p.exists():
            shutil.rmtree(p)
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp, _storable(nnx.to_pure_dict(nnx.state(model))))
    checkpointer.wait_until_finished()
    manifest = {"files": _digests(tmp), "model": describe(model)}
    with open(tmp / MANIFEST, "w") as f:
        json.dump(manifest, f, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    if old.exists():
        shutil.rmtree(old)
    return path


def restore(path: str | os.PathLike, model: Model) -> Model:
    """Load the checkpoint at `path` into `model` (in place; also returned).

    Raises `ValueError` naming the entry, before changing anything, when the
    checkpoint and the model differ (modules, hyperparameters such as
    ``hidden_shape`` or ``reset``, variables, shapes, dtypes), or when a file
    of the checkpoint is missing, truncated or damaged.

    Example: ``spyx.checkpoint.restore("ckpt/model", build_model())``.
    """
    path = Path(path).absolute()
    if not path.exists() and path.with_name(path.name + ".old").exists():
        path = path.with_name(path.name + ".old")  # a save was cut off mid-swap
    if not path.exists():
        raise FileNotFoundError(f"restore: no checkpoint at {path}.")
    manifest = _check_files(path)
    if manifest is not None:
        frontend.compare_descriptions(
            f"restore: the checkpoint at {path}", manifest["model"], describe(model)
        )
    try:
        loaded = _flat(ocp.StandardCheckpointer().restore(path))
    except Exception as err:
        raise ValueError(
            f"restore: the checkpoint at {path} cannot be read ({err}); nothing "
            f"was restored."
        ) from err
    state = nnx.state(model)
    typed = _flat(nnx.to_pure_dict(state))
    target = _flat(_storable(nnx.to_pure_dict(state)))
    missing = sorted(set(target) - set(loaded))
    extra = sorted(set(loaded) - set(target))
    if missing or extra:
        raise ValueError(
            f"restore: the checkpoint at {path} does not fit this model: entries "
            f"missing {['/'.join(k) for k in missing]}, unexpected "
            f"{['/'.join(k) for k in extra]}."
        )
    for key, want in target.items():
        got = loaded[key]
        if (
            np.shape(got) != np.shape(want)
            or np.asarray(got).dtype != np.asarray(want).dtype
        ):
            raise ValueError(
                f"restore: entry {'/'.join(key)} is {np.asarray(got).dtype}"
                f"{list(np.shape(got))} in the checkpoint but the model expects "
                f"{np.asarray(want).dtype}{list(np.shape(want))}."
            )
    values = {
        k: jax.random.wrap_key_data(
            jnp.asarray(loaded[k]), impl=jax.random.key_impl(typed[k])
        )
        if _is_key(typed[k])
        else jnp.asarray(loaded[k])
        for k in target
    }
    pure = nnx.to_pure_dict(state)
    leaves_paths = nnx.traversals.flatten_mapping(pure)
    rebuilt = nnx.traversals.unflatten_mapping(
        {p: values[tuple(str(k) for k in p)] for p in leaves_paths}
    )
    nnx.replace_by_pure_dict(state, rebuilt)
    nnx.update(model, state)
    jax.block_until_ready(nnx.state(model))
    return model
