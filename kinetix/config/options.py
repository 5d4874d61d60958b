"""``--cfg-options key=value ...``: parse the values, then apply them to a config.

Values follow MMAction2's grammar: quotes are stripped and spaces dropped;
``[..]`` is a list, ``(..)`` a tuple and a bare ``a,b`` a list; commas inside
brackets belong to the inner value; a scalar is an int, else a float, else
``true``/``false`` (any case) as a bool, ``None``, else a string::

    '[(1,2,3),[a,b],c]'  ->  [(1, 2, 3), ['a', 'b'], 'c']

A value made only of commas is a string: ``delimiter=,``.

Keys are dotted paths; a numeric part indexes a list
(``train_dataloader.dataset.pipeline.1.clip_len=4``). Unlike mmengine, a path that
does not exist is an error with a suggestion, not a silently created key: a
typo like ``batch_sise`` or ``optim_wraper`` would otherwise train with the old value.

A top-level variable of the config file (``train_pipeline``, ``max_epochs``) can
be set, with a warning: the file copied its value into the sections that use
it when it ran, so the warning names the key paths to set instead.
"""

from __future__ import annotations

import difflib
import warnings
from typing import Any, Iterator, Sequence

from kinetix.config.loader import format_key_path
from kinetix.config.schema import ENGINE_KEYS, MMENGINE_ONLY_KEYS, OPTIONAL_SECTIONS
from kinetix.errors import ConfigError, ConfigWarning

_CLOSE = {")": "(", "]": "["}


def parse_cfg_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``['a.b=1', 'c=[x,y]']`` -> ``{'a.b': 1, 'c': ['x', 'y']}`` (later pairs win)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--cfg-options {pair!r}: expected key=value")
        if not _balanced(value):
            raise ConfigError(f"--cfg-options {pair!r}: unbalanced brackets")
        options[key] = parse_value(value)
    return options


def _balanced(text: str) -> bool:
    stack = []
    for ch in text:
        if ch in "([":
            stack.append(ch)
        elif ch in ")]":
            if not stack or stack.pop() != _CLOSE[ch]:
                return False
    return not stack


def parse_value(text: str) -> Any:
    """Parse one ``--cfg-options`` value (brackets must be balanced)."""
    text = text.strip("'\"").replace(" ", "")
    if text and not text.strip(","):
        return text  # delimiter=, : a comma, not an empty list
    if text.startswith("(") and text.endswith(")") and _wraps(text):
        return tuple(parse_value(item) for item in _split(text[1:-1]))
    if text.startswith("[") and text.endswith("]") and _wraps(text):
        return [parse_value(item) for item in _split(text[1:-1])]
    # Only commas outside brackets make a list; `{'a':[1,2]}` (a dict, which --cfg-options does
    # not parse) stays one text value rather than recursing on itself.
    if "," in text and (items := _split(text)) != [text]:
        return [parse_value(item) for item in items]
    return _parse_scalar(text)


def _wraps(text: str) -> bool:
    """True when the first bracket closes at the very end: ``[1],[2]`` is two items, not one."""
    depth = 0
    for i, ch in enumerate(text):
        depth += ch in "(["
        depth -= ch in ")]"
        if depth == 0:
            return i == len(text) - 1
    return False


def _split(text: str) -> list[str]:
    """Split on the commas outside brackets. A trailing comma adds nothing: ``1,`` is one item."""
    items, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch in "(["
        depth -= ch in ")]"
        if ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    if start < len(text):
        items.append(text[start:])
    return items


def _parse_scalar(text: str) -> Any:
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text == "None":
        return None
    return text


def apply_cfg_options(cfg: dict, options: dict[str, Any]) -> None:
    """Set each dotted key of ``options`` in ``cfg`` (in place).

    A missing last key is added only at the top level, for a key kinetix reads
    (``work_dir``, ``load_from``...), or in a dict with a ``type`` (its constructor
    checks the argument names later). A missing optional section starts from a
    dotted key: ``randomness.seed=0``. Anything else that does not exist is an
    error naming the closest existing key.
    """
    for key, value in options.items():
        parts = key.split(".")
        if any(not p for p in parts):
            raise ConfigError(f"--cfg-options {key}: empty part in the key")
        if parts[0] not in cfg:
            _check_new_top_level(cfg, parts)
            cfg[parts[0]] = _nest(parts[1:], value)
            continue
        # Looked for before the change: a dotted key changes the value in place.
        copies = None if parts[0] in ENGINE_KEYS else _copies(cfg, parts[0])
        node: Any = cfg
        for depth, part in enumerate(parts[:-1]):
            node = _child(node, parts, depth)
        _set(node, parts, value)
        if copies is not None:
            _warn_file_variable(parts, copies)


def _check_new_top_level(cfg: dict, parts: list[str]) -> None:
    key, name = format_key_path(parts), parts[0]
    if name not in ENGINE_KEYS and name not in MMENGINE_ONLY_KEYS:
        close = difflib.get_close_matches(name, [*cfg, *ENGINE_KEYS], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"--cfg-options {key}: the config has no key {name!r} and kinetix reads "
                          f"no such key{hint}")
    if len(parts) > 1 and name in ENGINE_KEYS and name not in OPTIONAL_SECTIONS:
        raise ConfigError(f"--cfg-options {key}: the config has no {name} section, and one key "
                          f"cannot make one; add the whole {name} to the config file")


def _copies(cfg: dict, name: str) -> list[str]:
    """Key paths outside ``name`` that hold a value equal to that of variable ``name``."""
    value = cfg[name]
    if value is None or isinstance(value, bool):
        return []
    return [format_key_path(path) for path in _paths_of(cfg, value) if path[0] != name]


def _warn_file_variable(parts: list[str], copies: list[str]) -> None:
    """Say that setting a variable of the config file changes no section that used it."""
    key, name = format_key_path(parts), parts[0]
    if copies:
        where = ", ".join(format_key_path([c, *parts[1:]]) for c in copies[:4])
        warnings.warn(f"--cfg-options {key}: {name} is a variable of the config file, not a key kinetix "
                      f"reads; its value was copied where the file used it, so set {where} instead",
                      ConfigWarning, stacklevel=3)
    else:
        warnings.warn(f"--cfg-options {key}: {name} is a variable of the config file, not a key kinetix "
                      f"reads; sections that used it hold their own copy of its value", ConfigWarning, stacklevel=3)


def _paths_of(node: Any, value: Any, path: tuple = ()) -> Iterator[list]:
    """Key paths in ``node`` whose value equals ``value`` (same type too: 1 is not True)."""
    if path and type(node) is type(value) and node == value:
        yield list(path)
        return
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = enumerate(node)
    else:
        return
    for k, v in items:
        yield from _paths_of(v, value, path + (k,))


def _nest(parts: list[str], value: Any) -> Any:
    for part in reversed(parts):
        value = {part: value}
    return value


def _child(node: Any, parts: list[str], depth: int) -> Any:
    """``node[parts[depth]]``, or an error naming the path if it is not there."""
    part = parts[depth]
    if isinstance(node, dict):
        if part not in node:
            raise _missing(node, parts, depth)
        return node[part]
    if isinstance(node, (list, tuple)):
        return node[_index(node, parts, depth)]
    raise _scalar(node, parts, depth)


def _set(node: Any, parts: list[str], value: Any) -> None:
    depth, part = len(parts) - 1, parts[-1]
    if isinstance(node, dict):
        if part not in node and "type" not in node:
            raise _missing(node, parts, depth)
        node[part] = value
    elif isinstance(node, list):
        node[_index(node, parts, depth)] = value
    elif isinstance(node, tuple):
        raise ConfigError(f"--cfg-options {format_key_path(parts)}: "
                          f"{format_key_path(parts[:depth])} is a tuple, which cannot be changed "
                          "item by item; set the whole tuple instead")
    else:
        raise _scalar(node, parts, depth)


def _index(node: list | tuple, parts: list[str], depth: int) -> int:
    where, part = format_key_path(parts[:depth]), parts[depth]
    try:
        index = int(part)
    except ValueError:
        raise ConfigError(f"--cfg-options {format_key_path(parts)}: {where} is a list; "
                          f"{part!r} is not an index") from None
    if not -len(node) <= index < len(node):
        raise ConfigError(f"--cfg-options {format_key_path(parts)}: index {index} is out of range "
                          f"({where} has {len(node)} items)")
    return index


def _missing(node: dict, parts: list[str], depth: int) -> ConfigError:
    where = format_key_path(parts[:depth])
    close = difflib.get_close_matches(parts[depth], [str(k) for k in node], n=1)
    hint = f"; did you mean {format_key_path(parts[:depth] + [close[0]])!r}?" if close else ""
    return ConfigError(f"--cfg-options {format_key_path(parts)}: {where} has no key "
                       f"{parts[depth]!r}{hint}")


def _scalar(node: Any, parts: list[str], depth: int) -> ConfigError:
    where = format_key_path(parts[:depth])
    return ConfigError(f"--cfg-options {format_key_path(parts)}: {where} = {node!r}, "
                       "which is not a dict or list")
