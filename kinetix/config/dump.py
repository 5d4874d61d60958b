"""Write a merged config back as a Python config file.

The file has one top-level assignment per key and reads back with
:func:`~kinetix.config.load_config` to an equal dict (tuples stay tuples).
Dicts with identifier keys are written ``dict(a=1)`` like hand-written
configs; anything longer than a line is broken up with 4-space indentation.
"""

from __future__ import annotations

import keyword
import math
import os
import tempfile
from typing import Any

from kinetix.config.loader import BASE_KEY, format_key_path
from kinetix.errors import ConfigError

WIDTH = 88  # max line length before a container is broken up
_HEADER = "# Merged config written by kinetix; load it with kinetix.config.load_config.\n"


def config_text(cfg: dict) -> str:
    """``cfg`` as the text of a Python config file (what checkpoints keep in ``meta['cfg']``)."""
    lines = [_HEADER]
    for key, value in cfg.items():
        # 'dict' or 'float' as a variable would break the dict(...)/float(...) written after it.
        if not _is_name(key) or key.startswith("__") or key in (BASE_KEY, "dict", "float"):
            raise ConfigError(f"cannot dump config key {key!r}: a top-level key must be "
                              "a Python variable name (not _base_, dict or float)")
        prefix = f"{key} = "
        lines.append(prefix + format_value(value, 0, len(prefix), [key]) + "\n")
    return "".join(lines)


def dump_config(cfg: dict, path: str | os.PathLike) -> None:
    """Write ``cfg`` to ``path`` as a Python config file, atomically (temp file + rename)."""
    text = config_text(cfg)

    # Atomic: a reader (or a crash) never sees half a config.
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def format_value(value: Any, indent: int, used: int, key_path: list) -> str:
    """Python source for ``value``; ``used`` columns of the current line are already taken."""
    one_line = _inline(value, key_path)
    if used + len(one_line) + 1 <= WIDTH or not isinstance(value, (dict, list, tuple)) or not value:
        return one_line
    pad = " " * (indent + 4)
    if isinstance(value, dict):
        named = all(_is_name(k) for k in value)
        open_, close = ("dict(", ")") if named else ("{", "}")
        items = []
        for k, v in value.items():
            head = f"{k}=" if named else f"{_inline(k, key_path)}: "
            items.append(pad + head + format_value(v, indent + 4, len(pad) + len(head), key_path + [k]))
    else:
        open_, close = ("[", "]") if isinstance(value, list) else ("(", ")")
        items = [pad + format_value(v, indent + 4, len(pad), key_path + [i]) for i, v in enumerate(value)]
    # A comma after every item keeps a one-item tuple a tuple.
    return open_ + "\n" + "".join(item + ",\n" for item in items) + " " * indent + close


def _inline(value: Any, key_path: list) -> str:
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        # repr(inf) is 'inf', which is not Python source.
        return repr(value) if math.isfinite(value) else f"float('{value}')"
    if isinstance(value, dict):
        if all(_is_name(k) for k in value):
            return "dict(" + ", ".join(f"{k}={_inline(v, key_path + [k])}" for k, v in value.items()) + ")"
        return "{" + ", ".join(f"{_inline(k, key_path)}: {_inline(v, key_path + [k])}"
                               for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        items = [_inline(v, key_path + [i]) for i, v in enumerate(value)]
        if isinstance(value, list):
            return "[" + ", ".join(items) + "]"
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    raise ConfigError(f"cannot dump config key {format_key_path(key_path)}: a {type(value).__name__} "
                      "is not a plain config value (dict, list, tuple, str, number, bool, None)")


def _is_name(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)
