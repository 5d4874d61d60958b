"""Load a torch checkpoint file without executing code from it, or say in one line why not.

A ``torch.save`` file is a pickle (in a zip archive, or in the older "legacy"
format) and unpickling may call anything the pickle names. Loading has two steps:

1. Inspect: recognise the format (a text file is "not a torch checkpoint") and
   list every global the pickles name by unpickling them with each global
   replaced by an inert stand-in, so nothing is imported or run. A global that
   is code (a function, or anything from ``os``, ``subprocess``, ``builtins``...)
   refuses the file, naming the file and the global.
2. Load with ``torch.load(weights_only=True)``: tensors, plain data and numpy
   values as themselves, every other class (the mmengine objects in MMAction2's
   ``message_hub``) as an inert stand-in, so MMAction2 checkpoints load where
   mmengine is not installed.

Safety rests on step 2's allowlist and on step 1 never importing: the list of
code modules only decides which message a refused file gets. (torch's own
message would advise ``weights_only=False``, which is exactly what not to do.)

Kinetix checkpoints carry a sha256 of their whole content (``CHECKSUM_KEY``),
verified here; other zip archives have their records' CRC-32s checked instead.
"""

from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from kinetix.errors import CheckpointError
from kinetix.utils.files import os_reason
from kinetix.utils.integrity import CHECKSUM_KEY, content_sha256, first_bad_record, read_record

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # the first pickle of a non-zip torch.save file
_LEGACY_PICKLES = 5  # magic number, protocol, sys info, the object, its storage keys

# Globals from these top-level modules are code, never data, whatever their name.
_CODE_MODULES = frozenset({
    "os", "posix", "nt", "posixpath", "ntpath", "sys", "subprocess", "_posixsubprocess", "builtins",
    "importlib", "runpy", "shutil", "socket", "pickle", "_pickle", "copyreg", "marshal", "types",
    "code", "codeop", "ctypes", "functools", "operator", "_operator", "io", "_io", "pathlib",
    "tempfile", "webbrowser", "pty", "multiprocessing", "threading", "_thread", "signal", "asyncio",
    "urllib", "http", "pdb", "bdb", "timeit", "inspect", "platform", "site", "zipimport", "gc",
    "weakref", "glob", "logging", "atexit", "ssl", "ftplib", "smtplib", "xmlrpc", "tarfile",
    "zipfile", "sqlite3", "torch", "dill", "cloudpickle", "joblib", "yaml",
})


# Functions a file may name and still load, as inert stand-ins (never the real function):
# mmengine's HistoryBuffer pickles its statistics methods as getattr(HistoryBuffer, 'min'),
# so every MMAction2 training checkpoint's message_hub names builtins.getattr. A stand-in
# called with (class stand-in, 'min') only records its arguments.
_STOOD_IN_CODE = frozenset({"builtins.getattr"})


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


class _Probe(_Opaque):
    """A stand-in for inspection only: also takes the items of a dict or list subclass."""

    def __setitem__(self, key: Any, value: Any) -> None:
        pass

    def append(self, item: Any) -> None:
        pass

    def extend(self, items: Any) -> None:
        pass


def _placeholder(qualified_name: str, base: type = _Opaque) -> type:
    return type(qualified_name.rsplit(".", 1)[-1], (base,), {"qualified_name": qualified_name})


def _data_globals() -> list[tuple[Any, str]]:
    """Globals loaded as the real thing besides torch's allowlist: numpy values and the like."""
    core = getattr(np, "_core", None) or np.core
    found: list[tuple[Any, str]] = [(np.ndarray, "numpy.ndarray"), (np.dtype, "numpy.dtype"),
                                    (frozenset, "builtins.frozenset"),
                                    (torch.torch_version.TorchVersion, "torch.torch_version.TorchVersion")]
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1 and 2 names
        found += [(core.multiarray._reconstruct, f"{module}._reconstruct"),
                  (core.multiarray.scalar, f"{module}.scalar")]
    dtypes = getattr(np, "dtypes", None)
    for name in dir(dtypes) if dtypes is not None else ():
        if name.endswith("DType"):
            found.append((getattr(dtypes, name), f"numpy.dtypes.{name}"))
    return found


def _allowed_names() -> set[str]:
    torch_allowed = getattr(torch._weights_only_unpickler, "_get_allowed_globals", dict)()
    return set(torch_allowed) | {name for _, name in _data_globals()}


def _is_code(qualified_name: str, module: str, allowed: set[str]) -> bool:
    if qualified_name in allowed:
        return False
    last = qualified_name[len(module) + 1:].rsplit(".", 1)[-1]
    # A class (CapWords) can only be rebuilt as inert data; a function would be called.
    return module.split(".")[0] in _CODE_MODULES or not last[:1].isupper()


class _GlobalsRecorder(pickle.Unpickler):
    """Unpickles with every global replaced by a stand-in: records the names, imports and runs nothing."""

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file)
        self.names: dict[str, str] = {}  # qualified name -> module, in order of appearance
        self._stand_ins: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> type:
        if (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2 names, as pickle itself maps them
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        qualified = f"{module}.{name}"
        self.names.setdefault(qualified, module)
        return self._stand_ins.setdefault(qualified, _placeholder(qualified, _Probe))

    def persistent_load(self, pid: Any) -> None:
        return None  # a reference to tensor storage: data


class _Scan:
    """What inspecting a file found: its format, the globals it names, what is wrong with it."""

    def __init__(self, kind: str, names: dict[str, str], problem: str | None = None) -> None:
        self.kind, self.names, self.problem = kind, names, problem


def _scan(path: Path) -> _Scan:
    with open(path, "rb") as f:
        try:
            is_zip = zipfile.is_zipfile(f)
        except Exception:  # it can raise on a damaged end record; the first bytes tell below
            is_zip = False
        if is_zip:
            return _scan_zip(f)
        f.seek(0)
        head = f.read(4)
        if not head:
            return _Scan("empty", {}, "not a torch checkpoint (the file is empty)")
        if head == b"PK\x03\x04":
            return _Scan("zip", {}, "truncated or corrupted: a zip archive whose directory is missing or unreadable")
        f.seek(0)
        return _scan_pickles(f)


def _scan_zip(f: BinaryIO) -> _Scan:
    try:
        with zipfile.ZipFile(f) as archive:
            names = archive.namelist()
            if any(n.endswith("constants.pkl") for n in names):
                return _Scan("zip", {}, "not a torch checkpoint (a TorchScript archive, made by torch.jit.save)")
            data = [n for n in names if n == "data.pkl" or (n.endswith("/data.pkl") and n.count("/") == 1)]
            if not data:
                return _Scan("zip", {}, "not a torch checkpoint (a zip archive without data.pkl)")
            pickled = read_record(f, archive, archive.getinfo(data[0]))
    except Exception as exc:  # zipfile raises many kinds on a damaged directory; the bytes are untrusted
        return _Scan("zip", {}, f"corrupted zip archive ({_first_line(exc)})")
    recorder = _GlobalsRecorder(io.BytesIO(pickled))
    try:
        recorder.load()
    except Exception as exc:  # anything: the bytes are untrusted
        return _Scan("zip", recorder.names, f"corrupted: its data.pkl does not unpickle ({_first_line(exc)})")
    return _Scan("zip", recorder.names)


def _scan_pickles(f: BinaryIO) -> _Scan:
    recorder = _GlobalsRecorder(f)
    try:
        first = recorder.load()
    except Exception:
        return _Scan("other", recorder.names, "not a torch checkpoint (neither a zip archive nor a pickle)")
    if not (type(first) is int and first == _LEGACY_MAGIC):
        return _Scan("pickle", recorder.names, "not a torch checkpoint (a pickle not written by torch.save)")
    for _ in range(_LEGACY_PICKLES - 1):
        try:
            recorder.load()
        except Exception as exc:
            return _Scan("legacy", recorder.names, f"truncated or corrupted ({_first_line(exc)})")
    return _Scan("legacy", recorder.names)


def safe_torch_load(path: str | os.PathLike, map_location: str | torch.device = "cpu",
                    label: str | None = None) -> Any:
    """``torch.load`` that never runs code; any problem is a one-line CheckpointError.

    ``label`` starts every message (default ``checkpoint <path>``).
    """
    label = label or f"checkpoint {path}"
    try:
        scan = _scan(Path(path))
    except OSError as exc:
        raise CheckpointError(f"{label}: cannot read it: {os_reason(exc)}") from None
    allowed = _allowed_names()
    code = [name for name, module in scan.names.items()
            if name not in _STOOD_IN_CODE and _is_code(name, module, allowed)]
    if code:
        raise CheckpointError(f"{label}: refused to load: it would import {code[0]} "
                              f"(only tensors and plain data are loaded)")
    if scan.problem:
        raise CheckpointError(f"{label}: {scan.problem}")
    stand_ins = [(_placeholder(name), name) for name in scan.names if name not in allowed]
    with torch.serialization.safe_globals(_data_globals() + stand_ins), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notes on pickle protocols
        try:
            loaded = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as exc:  # a corrupted file can make torch raise nearly anything
            raise CheckpointError(f"{label}: cannot read it: {_reason(exc)}") from None
    return _verified(loaded, Path(path), scan.kind, label)


def _verified(loaded: Any, path: Path, kind: str, label: str) -> Any:
    if isinstance(loaded, dict) and CHECKSUM_KEY in loaded:
        expected = loaded.pop(CHECKSUM_KEY)
        if content_sha256(loaded) != expected:
            raise CheckpointError(f"{label}: corrupted: its content does not match the sha256 saved with it")
    elif kind == "zip":
        try:
            bad = first_bad_record(path)
        except Exception as exc:
            bad = f"a damaged zip directory ({_first_line(exc)})"
        if bad:
            raise CheckpointError(f"{label}: corrupted: {bad}")
    return loaded


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _reason(exc: BaseException) -> str:
    """The cause in torch's message, without its advice to load with weights_only=False."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if "weights_only" not in line
              and not line.startswith(("Weights only load failed", "Check the documentation"))]
    text = useful[0] if useful else type(exc).__name__
    return text.removeprefix("WeightsUnpickler error: ")
