"""What a checkpoint records about the model it came from, so that a restore
can refuse a file that does not fit, or that was cut short or damaged.

Both front ends write a *description* (one line per module and per array:
its type and hyperparameters, or its dtype and shape) and a SHA-256 digest
of the saved bytes next to the parameters; `restore` checks both before it
changes anything.
"""

import hashlib
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MODE_SETTINGS",
    "compare_descriptions",
    "describe_value",
    "digest",
    "left_out",
]

MODE_SETTINGS = frozenset({"deterministic", "use_running_average", "inference"})
"""Settings that say a layer's mode, not its architecture: NNX's
``deterministic`` (`nnx.Dropout`) and ``use_running_average``
(`nnx.BatchNorm`), which ``model.eval()`` / ``model.train()`` switch, and
Equinox's ``inference`` (`eqx.nn.inference_mode`). A description leaves them
out, so a checkpoint saved in one mode restores into a model in the other;
the restored model keeps its own mode."""

_NEWER_DEFAULTS = {"spikes_after_update": False}
"""Settings added after checkpoints were first written, at their default: a
description leaves them out, so an older checkpoint still matches."""


def left_out(name: str, value: Any) -> bool:
    """Whether a description leaves the setting `name` out: a mode
    (`MODE_SETTINGS`), or a newer setting at its default."""
    if name in MODE_SETTINGS:
        return True
    return name in _NEWER_DEFAULTS and value is _NEWER_DEFAULTS[name]


_SIMPLE = (int, float, str, bool, type(None))


def digest(data: bytes) -> str:
    """The hex SHA-256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def describe_value(value: Any) -> str | None:
    """A stable text for a hyperparameter value.

    A stable text for a hyperparameter value, or ``None`` if it has none
    (objects whose text would only show a memory address)."""
    if isinstance(value, _SIMPLE):
        return repr(value)
    if isinstance(value, tuple | list) and all(isinstance(v, _SIMPLE) for v in value):
        return repr(tuple(value))
    if isinstance(value, tuple | list) and all(isinstance(v, tuple) for v in value):
        return repr(tuple(tuple(v) for v in value))
    text = repr(value)
    if " at 0x" in text:
        name = getattr(value, "__qualname__", None)
        return None if name is None else name
    return text


def _upgraded(saved: Mapping[str, str]) -> dict[str, str]:
    """A description written before neurons stored their spike function as
    `spike` (it was `activation`), in today's words."""
    out = {}
    for key, text in saved.items():
        if key.endswith(".activation"):
            key = key[: -len("activation")] + "spike"
        out[key] = text.replace(", activation=", ", spike=").replace(
            "(activation=", "(spike="
        )
    return out


def compare_descriptions(
    where: str, saved: Mapping[str, str], model: Mapping[str, str]
) -> None:
    """Refuse a checkpoint whose description differs from the model's.

    Raise `ValueError` naming the first entries where a checkpoint's
    description differs from the model's.

    Example: ``compare_descriptions("restore: ckpt", saved, current)``.
    """
    saved = _upgraded(saved)
    problems = []
    for key in sorted(set(saved) | set(model)):
        if key not in model:
            problems.append(f"{key} is in the file ({saved[key]}) but not the model")
        elif key not in saved:
            problems.append(f"{key} is in the model ({model[key]}) but not the file")
        elif saved[key] != model[key]:
            problems.append(f"{key} is {saved[key]} in the file, {model[key]} here")
    if problems:
        shown = "; ".join(problems[:4])
        more = f"; and {len(problems) - 4} more" if len(problems) > 4 else ""
        raise ValueError(
            f"{where} was saved from a different model: {shown}{more}. Build the "
            f"model exactly as when it was saved (layers, shapes, dtypes, "
            f"hyperparameters) before restoring."
        )
