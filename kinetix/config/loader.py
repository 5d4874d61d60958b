"""Load MMAction2-style Python config files.

A config file is Python made of plain assignments. It may name base files in
``_base_`` (one path or a list, relative to the file); the bases are loaded
first (recursively), merged in order, and the file's own variables are merged
on top:

* a dict merges recursively into the base dict of the same key;
* lists and scalars replace;
* ``_delete_=True`` in a dict replaces the base dict whole;
* a dict over a non-dict is an error, because silently dropping the base value
  (or silently keeping half of it) is how configs end up not meaning what they say.

Before a file runs, two kinds of ``{{ }}`` in its text are substituted:

* ``{{_base_.a.b}}``: the value of ``a.b`` in the merged bases, any type;
* ``{{'$ENV:default'}}``: the environment variable ``ENV``, else ``default``.

Every error is a one-line :class:`ConfigError` naming the file (and the line or
key path) at fault.
"""

from __future__ import annotations

import ast
import builtins
import copy
import difflib
import os
import re
import types
from typing import Any, Iterable

from kinetix.errors import ConfigError, KinetixError

BASE_KEY = "_base_"
DELETE_KEY = "_delete_"

# {{_base_.a.b}}, optionally wrapped in matching quotes ('{{_base_.x}}'), which
# mmengine also accepts; the quotes go away with the substitution.
_BASE_REF = re.compile(r"""(['"]?)\{\{\s*_base_\.([\w.]+?)\s*\}\}\1""")
# {{'$ENV:default'}}, {{"$ENV"}} or the unquoted {{$ENV:default}}.
_ENV_REF = re.compile(r"""\{\{\s*(['"]?)\s*\$(\w+)\s*(?::([^\n]*?))?\s*\1\s*\}\}""")


def format_key_path(parts: Iterable[str | int]) -> str:
    """``['model', 'backbone', 0]`` -> ``'model.backbone.0'`` (the --cfg-options spelling)."""
    return ".".join(str(p) for p in parts)


def load_config(path: str | os.PathLike) -> dict:
    """Load a config file, with its ``_base_`` files merged in, as a plain dict."""
    return _load(os.fspath(path), referrer=None, chain=())


def read_text(path: str | os.PathLike, kind: str, error: type[KinetixError] = ConfigError) -> str:
    """The whole file as text. A file that cannot be read or is not UTF-8 raises ``error``,
    one line naming the ``kind`` of file, its path and why (the byte and line at fault)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise error(f"{kind} {os.fspath(path)}: cannot read it: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(f"{kind} {os.fspath(path)}: not UTF-8 text "
                    f"(byte 0x{data[exc.start]:02x} at line {line})") from None


def _load(path: str, referrer: str | None, chain: tuple[str, ...]) -> dict:
    if os.path.isdir(path):
        raise ConfigError(f"config file {path}: is a folder, not a file")
    if not os.path.isfile(path):
        by = f" (the {BASE_KEY} of {referrer})" if referrer else ""
        raise ConfigError(f"config file not found: {path}{by}")
    if not path.endswith(".py"):
        raise ConfigError(f"{path}: config files must be Python files (.py); "
                          "YAML/JSON configs are not supported")
    real = os.path.realpath(path)
    if real in chain:
        raise ConfigError(f"{path}: circular {BASE_KEY}: it is (indirectly) its own base")
    chain = chain + (real,)

    text = _substitute_env(read_text(path, "config file"), path)
    # {{_base_.a.0}} is not always valid Python: mask the references to find _base_.
    tree = _parse(_BASE_REF.sub("None", text), path)

    # Bases first: {{_base_.x}} needs their values before this file can run.
    base, origin = {}, {}
    for base_path in _base_paths(tree, path):
        loaded = _load(base_path, referrer=path, chain=chain)
        for key in loaded:
            if key in base:
                raise ConfigError(f"{path}: key {key!r} is defined in two of its base files, "
                                  f"{origin[key]} and {base_path}")
            origin[key] = base_path
        base.update(loaded)

    text, scope = _substitute_base_refs(text, path, base)
    own = _execute(text, path, scope)
    return merge_config(base, own, path)


def _parse(text: str, path: str) -> ast.Module:
    try:
        return ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise _syntax_error(exc, path) from None


def _syntax_error(exc: SyntaxError, path: str) -> ConfigError:
    msg = exc.msg if exc.msg.startswith("invalid syntax") else f"invalid syntax ({exc.msg})"
    code = " ".join((exc.text or "").split())
    return ConfigError(f"{path}:{exc.lineno}: {msg}" + (f": {code}" if code else ""))


def _base_paths(tree: ast.Module, path: str) -> list[str]:
    """The ``_base_`` paths, read without running the file, resolved against its folder.

    ``_base_`` may be any expression of literals, ``+`` and names assigned earlier in the
    file (MMAction2's i3d nl-gaussian configs join two strings with ``+``); it is
    evaluated by :func:`_restricted_eval`, never run, because the bases must be known
    before the file may run.
    """
    value, lineno = None, None
    names: dict[str, Any] = {}  # earlier top-level assignments that evaluate safely
    scope: dict[str, Any] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)):
            continue
        target = node.targets[0].id
        if target == BASE_KEY:
            value, lineno, scope = node.value, node.lineno, dict(names)
            continue
        try:
            names[target] = _restricted_eval(node.value, names)
        except _NotAllowed:
            names.pop(target, None)  # reassigned to something we cannot evaluate
    if value is None:
        return []
    try:
        paths = _restricted_eval(value, scope)
    except _NotAllowed as exc:
        raise ConfigError(f"{path}:{lineno}: {BASE_KEY}: {exc}") from None
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, (list, tuple)) or not all(isinstance(p, str) for p in paths):
        raise ConfigError(f"{path}:{lineno}: {BASE_KEY} must be a path or a list of paths (strings), "
                          f"got {type(paths).__name__}")
    folder = os.path.dirname(path)
    return [os.path.normpath(os.path.join(folder, os.path.expanduser(p))) for p in paths]


class _NotAllowed(Exception):
    """An expression outside what :func:`_restricted_eval` evaluates."""


def _restricted_eval(node: ast.expr, names: dict[str, Any]) -> Any:
    """Literals (str, numbers, bools, None), lists and tuples of them, ``a + b`` and names in
    ``names``; nothing else, so evaluating can call no code."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool, type(None))):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_restricted_eval(item, names) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise _NotAllowed(f"name {node.id!r} is not a literal assigned earlier in the file")
        return copy.deepcopy(names[node.id])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _restricted_eval(node.left, names), _restricted_eval(node.right, names)
        if not (type(left) is type(right) and isinstance(left, (str, list, tuple))):
            raise _NotAllowed(f"cannot add {type(left).__name__} and {type(right).__name__} "
                              f"(only strings, lists or tuples)")
        return left + right
    raise _NotAllowed(f"only literals, + and earlier names are allowed, not "
                      f"{ast.unparse(node)!r}")


def _substitute_env(text: str, path: str) -> str:
    def replace(m: re.Match) -> str:
        quote, name, default = m.group(1), m.group(2), m.group(3)
        value = os.environ.get(name, default)
        if value is None:
            line = text.count("\n", 0, m.start()) + 1
            raise ConfigError(f"{path}:{line}: environment variable {name} is not set "
                              f"and {' '.join(m.group(0).split())} gives no default")
        if quote and not _inside_quotes(text, m):
            return repr(value)  # {{'$ENV:x'}} is a string expression
        # '{{$ENV:x}}' or 'prefix/{{$ENV:x}}': the value lands inside a string literal.
        return value.replace("\\", "\\\\").replace("'", "\\'").replace('"', '\\"')
    return _ENV_REF.sub(replace, text)


def _inside_quotes(text: str, m: re.Match) -> bool:
    """True for mmengine's ``'{{'$ENV:x'}}'`` spelling: the braces sit between quotes."""
    before = text[m.start() - 1] if m.start() > 0 else ""
    after = text[m.end()] if m.end() < len(text) else ""
    return before in ("'", '"') and before == after


def _substitute_base_refs(text: str, path: str, base: dict) -> tuple[str, dict]:
    """Replace each ``{{_base_.x}}`` by a fresh variable bound to a copy of the base value.

    A variable (not the value's repr) keeps any type exact, and keeps line numbers intact.
    """
    scope: dict[str, Any] = {}

    def replace(m: re.Match) -> str:
        line = text.count("\n", 0, m.start()) + 1
        where = f"{path}:{line}: {{{{_base_.{m.group(2)}}}}}"
        value = _lookup(base, m.group(2).split("."), where)
        name = f"__kinetix_base_{len(scope)}__"
        scope[name] = copy.deepcopy(value)
        return name

    return _BASE_REF.sub(replace, text), scope


def _lookup(base: dict, parts: list[str], where: str) -> Any:
    if not base:
        raise ConfigError(f"{where}: this file has no {BASE_KEY} to refer to")
    node: Any = base
    for i, part in enumerate(parts):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif (isinstance(node, (list, tuple)) and part.lstrip("-").isdigit()
              and -len(node) <= int(part) < len(node)):
            node = node[int(part)]
        else:
            close = difflib.get_close_matches(part, [str(k) for k in node], n=1) if isinstance(node, dict) else []
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: the base configs have no {format_key_path(parts[:i + 1])!r}{hint}")
    return node


def _execute(text: str, path: str, scope: dict) -> dict:
    """Run the file; return its own variables (no modules, functions, classes or dunders)."""
    env = {"__builtins__": builtins, "__file__": os.path.abspath(path),
           "__name__": "__kinetix_config__", **scope}
    try:
        code = compile(text, path, "exec")
    except SyntaxError as exc:  # a few errors (e.g. 'return' outside a function) only show here
        raise _syntax_error(exc, path) from None
    try:
        exec(code, env)
    except Exception as exc:  # noqa: BLE001 - any failure is the config's, report where
        raise ConfigError(f"{path}:{_error_line(exc, path)}: {type(exc).__name__}: "
                          + " ".join(str(exc).split())) from None
    return {k: v for k, v in env.items()
            if not k.startswith("__") and k != BASE_KEY
            and not isinstance(v, (types.ModuleType, types.FunctionType,
                                   types.BuiltinFunctionType, type))}


def _error_line(exc: BaseException, path: str) -> int | str:
    """The deepest line of ``path`` in the traceback: where the config went wrong."""
    line: int | str = "?"
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def merge_config(base: dict, child: dict, path: str = "<config>",
                 _parents: tuple[str, ...] = ()) -> dict:
    """Return ``child`` merged into ``base`` (neither is modified). ``path`` names ``child`` in errors."""
    out = dict(base)
    for key, value in child.items():
        key_path = _parents + (key,)
        if isinstance(value, dict):
            value = dict(value)
            replace = value.pop(DELETE_KEY, False)
            if key in out and not replace:
                if not isinstance(out[key], dict):
                    raise ConfigError(
                        f"{path}: {format_key_path(key_path)} is a dict here but a "
                        f"{type(out[key]).__name__} in the base config; add {DELETE_KEY}=True "
                        "to the dict to replace the base value")
                out[key] = merge_config(out[key], value, path, key_path)
                continue
        out[key] = _strip_delete(value)
    return out


def _strip_delete(value: Any) -> Any:
    """Drop ``_delete_`` keys from a value that has nothing to replace (it is new)."""
    if isinstance(value, dict):
        return {k: _strip_delete(v) for k, v in value.items() if k != DELETE_KEY}
    if isinstance(value, list):
        return [_strip_delete(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_strip_delete(v) for v in value)
    return value
