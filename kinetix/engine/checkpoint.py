"""Reading and writing checkpoints, safely and atomically.

Writing: a checkpoint is written to a temporary file in the same folder and
moved into place with ``os.replace``, so a crash or a full disk never leaves a
half-written ``epoch_N.pth`` behind (and the previous one stays valid). It
carries a sha256 of its content, so a file corrupted later is an error at load
rather than silently different weights.

Reading: a path, an http(s) URL or ``torchvision://NAME`` (downloaded once into
a cache, see ``kinetix.utils.download``); never runs code from the file (see
``kinetix.utils.safe_load``), so MMAction2's checkpoints load even where mmengine
is not installed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import torch

from kinetix.errors import CheckpointError
from kinetix.utils.download import is_remote, resolve
from kinetix.utils.files import current_umask, os_reason
from kinetix.utils.integrity import CHECKSUM_KEY, content_sha256
from kinetix.utils.safe_load import safe_torch_load

_TEMP_SUFFIX = ".tmp"


class _RecordingWriter:
    """A file's ``write`` that remembers the first OSError: torch reports one from inside its
    zip writer as a RuntimeError that no longer says which."""

    def __init__(self, f: BinaryIO) -> None:
        self._f, self.error = f, None

    def write(self, data: Any) -> int:
        try:
            return self._f.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


@contextlib.contextmanager
def _atomic_open(path: Path, name: str) -> Iterator[_RecordingWriter]:
    """A temp file beside ``path``, fsynced and renamed onto it on success, removed on failure.

    An OSError (a full disk, a read-only folder) is a one-line CheckpointError: cannot write ``name``.
    """
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            writer = _RecordingWriter(f)
            try:
                yield writer
            except Exception as exc:
                if writer.error is None:
                    raise
                raise writer.error from exc
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; the user's umask decides
        os.replace(tmp, path)
        tmp = None
        _fsync_folder(path.parent)
    except OSError as exc:
        raise CheckpointError(f"cannot write {name}: {os_reason(exc)}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable: after a power cut the folder shows the new file."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save_checkpoint(checkpoint: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``checkpoint`` to ``path`` atomically, with a sha256 of its content."""
    content = {k: v for k, v in checkpoint.items() if k != CHECKSUM_KEY}
    content[CHECKSUM_KEY] = content_sha256(content)
    with _atomic_open(Path(path), f"checkpoint {path}") as f:
        torch.save(content, f)


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Replace a small file (``last_checkpoint``, metrics, a dump) in one step."""
    with _atomic_open(Path(path), str(path)) as f:
        f.write(data.encode() if isinstance(data, str) else data)


def remove_stale_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Remove the temp files a killed save left in ``folder`` (``.<name>.<random>.tmp``).

    Call it at start-up, before anything saves there: a save in progress has one too.
    """
    removed = []
    for tmp in sorted(Path(folder).glob(f".*.*{_TEMP_SUFFIX}")):
        if tmp.is_file() and not tmp.is_symlink():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint (a path, an http(s) URL or ``torchvision://NAME``) without executing code from it."""
    local = resolve(path, "checkpoint")
    label = f"checkpoint {path}" + (f" (cached at {local})" if is_remote(path) else "")
    if not local.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not local.is_file():
        raise CheckpointError(f"{label}: not a file")
    loaded = safe_torch_load(local, map_location, label=label)
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{label}: expected a dict, found {type(loaded).__name__}")
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
