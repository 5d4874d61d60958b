"""``custom_imports``: the user's own modules, imported before anything is built.

A config may say ``custom_imports = dict(imports=['my_pkg.my_module'],
allow_failed_imports=False)``. Those modules register their classes
(``@TRANSFORMS.register_module()``) as a side effect of being imported, so
they must be imported on every rank, and again in DataLoader workers that
were started with ``spawn``/``forkserver`` (a fresh interpreter that has not
imported them), before the config's ``type`` names are looked up.
"""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from typing import Any

from kinetix.errors import ConfigError, ConfigWarning

_IMPORTLIB_DIR = os.path.dirname(importlib.__file__)  # its frames are not the user's code


def custom_import_names(spec: Any, key_path: str = "custom_imports") -> tuple[list[str], bool]:
    """Validate a ``custom_imports`` value; return (module names, allow_failed_imports)."""
    if spec is None:
        return [], False
    if not isinstance(spec, dict):
        raise ConfigError(f"{key_path}: expected dict(imports=[...], allow_failed_imports=False), "
                          f"got {type(spec).__name__}")
    unknown = sorted(set(spec) - {"imports", "allow_failed_imports"})
    if unknown:
        raise ConfigError(f"{key_path}.{unknown[0]}: unknown key; expected 'imports' and "
                          f"'allow_failed_imports'")
    names = spec.get("imports", [])
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{key_path}.imports: expected a list of module names, got {names!r}")
    return list(names), bool(spec.get("allow_failed_imports", False))


def import_custom_modules(spec: Any, key_path: str = "custom_imports") -> list[str]:
    """Import the modules ``spec`` names; return the names that were imported.

    A module that fails to import is a one-line :class:`ConfigError` naming
    it (and, for a syntax error, its file and line), or a warning when
    ``allow_failed_imports=True``.
    """
    names, allow_failed = custom_import_names(spec, key_path)
    # `python tools/train.py` puts tools/ first on sys.path, not the directory the
    # user runs from; a module beside their config should import as with `python -m`.
    cwd = os.getcwd()
    if names and cwd not in sys.path:
        sys.path.append(cwd)
    imported = []
    for i, name in enumerate(names):
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any failure of user code is reported the same way
            message = f"{key_path}.imports.{i}: cannot import {name!r}: {_describe(exc)}"
            if not allow_failed:
                raise ConfigError(message) from exc
            warnings.warn(f"{message} (allow_failed_imports=True: going on without it)", ConfigWarning, stacklevel=2)
            continue
        imported.append(name)
    return imported


def _describe(exc: Exception) -> str:
    """``Type: message`` plus the file:line in the user's code where it was raised."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{type(exc).__name__} at {exc.filename}:{exc.lineno}: {exc.msg}"
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith(("<frozen", _IMPORTLIB_DIR)) and filename != __file__:
            where = f" ({filename}:{tb.tb_lineno})"
        tb = tb.tb_next
    return f"{type(exc).__name__}: {exc}{where}"
