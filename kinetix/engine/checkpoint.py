"""Reading and writing checkpoints, safely and atomically.

Writing: a checkpoint is written to a temporary file in the same folder and
moved into place with ``os.replace``, so a crash or a full disk never leaves a
half-written ``epoch_N.pth`` behind.

Reading: never runs code from the file (see ``kinetix.utils.safe_load``), so
MMAction2's checkpoints load even where mmengine is not installed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import torch

from kinetix.errors import CheckpointError
from kinetix.utils.safe_load import safe_torch_load


@contextlib.contextmanager
def _atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A temp file beside ``path``, fsynced and renamed onto it on success, removed on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(checkpoint: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``checkpoint`` to ``path`` atomically."""
    with _atomic_open(path) as f:
        torch.save(checkpoint, f)


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Replace a small file (``last_checkpoint``, metrics, a dump) in one step."""
    with _atomic_open(path) as f:
        f.write(data.encode() if isinstance(data, str) else data)


def is_url(path: str) -> bool:
    return str(path).startswith(("http://", "https://"))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint file into a dict without executing code from it."""
    if is_url(str(path)):
        raise CheckpointError(f"checkpoint {path}: loading from a URL is not supported yet; "
                              "download it and pass the local path")
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    loaded = safe_torch_load(path, map_location)
    if not isinstance(loaded, dict):
        raise CheckpointError(f"checkpoint {path}: expected a dict, found {type(loaded).__name__}")
    return loaded


def extract_state_dict(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model weights of a checkpoint, with a DDP ``module.`` prefix removed."""
    state = checkpoint.get("state_dict", checkpoint.get("model", checkpoint))
    if not isinstance(state, dict):
        raise CheckpointError("checkpoint has no state_dict")
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def load_model_weights(model: torch.nn.Module, checkpoint: dict[str, Any], source: str,
                       strict: bool = False) -> tuple[list[str], list[str]]:
    """Copy the checkpoint's weights into ``model``.

    Returns (missing, unexpected) key lists. A checkpoint that shares no key
    with the model, or has a shape mismatch, is an error: loading it would
    silently evaluate random weights.
    """
    state = extract_state_dict(checkpoint)
    own = model.state_dict()
    common = [k for k in state if k in own]
    if not common:
        sample = next(iter(state), "<empty>")
        raise CheckpointError(f"checkpoint {source}: none of its {len(state)} weights match the model "
                              f"(first key {sample!r}); is it for this architecture?")
    for key in common:
        if state[key].shape != own[key].shape:
            raise CheckpointError(f"checkpoint {source}: {key} has shape {tuple(state[key].shape)}, "
                                  f"the model expects {tuple(own[key].shape)}")
    result = model.load_state_dict(state, strict=False)
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    if strict and (missing or unexpected):
        raise CheckpointError(f"checkpoint {source}: {len(missing)} missing and "
                              f"{len(unexpected)} unexpected keys (first: {(missing + unexpected)[0]})")
    return missing, unexpected
