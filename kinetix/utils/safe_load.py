"""Load a torch checkpoint file without executing code from it.

``torch.load(weights_only=True)`` handles our own checkpoints. MMAction2's also
pickle mmengine objects (the ``message_hub``) and numpy values; we list those
classes without importing them and let inert placeholders stand in for them,
so the tensors load even where mmengine is not installed. Anything else a
pickle might try to run (``os.system``...) is still refused by torch.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from typing import Any

import torch

from kinetix.errors import CheckpointError


class _Opaque:
    """Accepts whatever the pickle passes to construct or restore it, keeps it as data."""

    qualified_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> "_Opaque":
        obj = super().__new__(cls)
        obj.args = args
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<opaque {self.qualified_name}>"


def _placeholder(qualified_name: str) -> type:
    return type(qualified_name.rsplit(".", 1)[-1], (_Opaque,), {"qualified_name": qualified_name})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


_READ_ERRORS = (pickle.UnpicklingError, RuntimeError, ValueError, EOFError, zipfile.BadZipFile, OSError)


def safe_torch_load(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    what: str = "checkpoint") -> Any:
    """``torch.load`` that never runs code; unreadable files raise a one-line CheckpointError."""
    try:
        try:
            return torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError:
            unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(path)
            stand_ins = [(_placeholder(name), name) for name in unsafe]
            with torch.serialization.safe_globals(stand_ins):
                return torch.load(path, map_location=map_location, weights_only=True)
    except _READ_ERRORS as exc:
        raise CheckpointError(f"{what} {path}: cannot read it safely ({_first_line(exc)})") from None
