"""Registries: plain dicts from a config ``type`` name to a class or function.

There are no scopes and no parents. Each registry is a dict; registering a name
twice is an error, because a silent override is how two modules end up fighting
over ``ResNet``.

:func:`build` is the only place where config dicts turn into calls. It builds
nested configs first (children before parents), so constructors receive ready
objects and take explicit keyword arguments. Every error names the key path of
the config entry at fault, e.g. ``model.backbone.type``.

Before a call, each keyword the config gives is checked against the type
annotation of its parameter and, for argument names that many constructors
share (``num_classes``, ``lr``, ``clip_len``...), against the range in
:data:`RANGES`; a constructor may declare its own with
``typing.Annotated[int, Positive]``. A wrong value is then one line naming the
key path (``model.cls_head.num_classes: expected a positive int, got 'ten'``)
instead of a traceback from deep inside torch.

Two kinds of dict are passed through unbuilt:

* values of keys ending in ``_cfg`` (``norm_cfg``, ``conv_cfg``, ``act_cfg``,
  ``init_cfg``, ``train_cfg``, ...): these are layer *specs* a constructor uses
  many times, not objects;
* dicts without a ``type`` key (``data_prefix=dict(video=...)``).
"""

from __future__ import annotations

import collections.abc
import difflib
import functools
import inspect
import numbers
import types
import typing
from typing import Annotated, Any, Callable, Iterable, Literal, Sequence, TypeVar, Union

from kinetix.errors import ConfigError

T = TypeVar("T", bound=Callable[..., Any])


class Registry:
    """A named mapping from type names to builders (classes or functions)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._entries: dict[str, Callable[..., Any]] = {}

    def register(self, obj: T | None = None, *, name: str | None = None,
                 aliases: Iterable[str] = (), force: bool = False) -> Any:
        """Register ``obj`` under its ``__name__`` (or ``name``), plus ``aliases``.

        Usable as ``@REG.register``, ``@REG.register(name=..., aliases=[...])``
        or ``REG.register(fn, name=...)``. ``force=True`` replaces an existing
        entry on purpose; without it a second registration is an error.
        """

        def add(target: T) -> T:
            keys = (name or target.__name__, *aliases)
            taken = [key for key in keys if key in self._entries and self._entries[key] is not target]
            if taken and not force:
                raise KeyError(f"{taken[0]!r} is already registered in the {self.name} registry "
                               f"(by {self._entries[taken[0]]!r}); pass force=True to replace it")
            for key in keys:
                self._entries[key] = target
            return target

        return add(obj) if obj is not None else add

    def register_module(self, name: str | Sequence[str] | None = None, force: bool = False,
                        module: T | None = None) -> Any:
        """mmengine's spelling: ``@REG.register_module()``, ``@REG.register_module(name='X', force=True)``,
        ``REG.register_module(module=Cls)``. ``name`` may be a list of names.

        Code ported from MMAction2 then only changes its import line to
        ``from kinetix.registry import TRANSFORMS``.
        """
        if name is not None and not isinstance(name, str):
            names = list(name) if isinstance(name, (list, tuple)) else []
            if not names or not all(isinstance(n, str) for n in names):
                raise TypeError(f"register_module: name must be a str or a list of str, got {name!r}")
            name, aliases = names[0], names[1:]
        else:
            aliases = []
        register = self.register(name=name, aliases=aliases, force=force)
        return register(module) if module is not None else register

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, key: str, key_path: str = "type") -> Callable[..., Any]:
        """Look up ``key``; an unknown name raises a ConfigError naming ``key_path``."""
        if key not in self._entries:
            raise ConfigError(unknown_type_message(key, key_path, self))
        return self._entries[key]

    def __repr__(self) -> str:
        return f"Registry({self.name!r}, {len(self)} entries)"


def unknown_type_message(key: str, key_path: str, *registries: Registry) -> str:
    names = sorted({n for reg in registries for n in reg.names()})
    close = difflib.get_close_matches(str(key), names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    where = "/".join(reg.name for reg in registries)
    return f"{key_path}: unknown {where} type {key!r}{hint}"


# The registries. They live in this leaf module so that data, models and
# evaluation can register into them without importing each other.
MODELS = Registry("model")          # recognizers, backbones, heads, losses, preprocessors, blending
DATASETS = Registry("dataset")
TRANSFORMS = Registry("transform")  # pipeline steps
SAMPLERS = Registry("sampler")
METRICS = Registry("metric")
OPTIMIZERS = Registry("optimizer")
SCHEDULERS = Registry("param scheduler")
HOOKS = Registry("hook")
LOOPS = Registry("loop")            # EpochBasedTrainLoop, ValLoop, TestLoop (accepted names)

# MMAction2's names for the same registries, so ported code changes only its import line.
DATA_SAMPLERS = SAMPLERS
PARAM_SCHEDULERS = SCHEDULERS


def _is_buildable(value: Any) -> bool:
    return isinstance(value, dict) and "type" in value


def build(cfg: dict | Any, registry: Registry, key_path: str, **defaults: Any) -> Any:
    """Build ``cfg`` (a dict with a ``type`` key) from ``registry``.

    Nested buildable dicts (and lists of them) are built first, each from the
    registry that ``build_child`` picks: children are looked up in the same
    registry unless the key is a pipeline (``TRANSFORMS``). ``defaults`` are
    keyword arguments used when the config does not set them.
    Already-built objects pass through unchanged.
    """
    if not isinstance(cfg, dict):
        return cfg
    if "type" not in cfg:
        raise ConfigError(f"{key_path}: missing 'type' key (got keys {sorted(cfg)})")
    type_name = cfg["type"]
    if not isinstance(type_name, str):
        # Already a class (configs written in Python may pass one).
        target = type_name
    else:
        target = registry.get(type_name, f"{key_path}.type")
    raw = _dict_args(target)
    given = {key: value if key in raw else
             _build_value(value, _child_registry(registry, key), f"{key_path}.{key}", key)
             for key, value in cfg.items() if key != "type"}
    kwargs = {**defaults, **given}
    _check_signature(target, kwargs, key_path)
    check_arguments(target, given, key_path)
    return target(**kwargs)


def _dict_args(target: Any) -> tuple[str, ...]:
    """Arguments a constructor takes as plain dicts even though they have a ``type``
    (SlowFast's ``slow_pathway=dict(type='resnet3d', ...)``): it builds them itself."""
    return tuple(getattr(target, "dict_args", ()))


def _check_signature(target: Callable[..., Any], kwargs: dict, key_path: str) -> None:
    """A wrong keyword is a config mistake: report it with its key path.

    Checked before the call so that a TypeError raised *inside* a constructor
    (a bug) is not mistaken for a config error.
    """
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # some builtins have no signature
        return
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        accepted = [p for p in signature.parameters if p not in ("self", "args", "kwargs")]
        unknown = [k for k in kwargs if k not in signature.parameters]
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            close = difflib.get_close_matches(unknown[0], accepted, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{key_path}.{unknown[0]}: {getattr(target, '__name__', target)} "
                              f"takes no argument {unknown[0]!r}{hint}") from None
        raise ConfigError(f"{key_path}: cannot build {getattr(target, '__name__', target)}: {exc}") from None


def _child_registry(parent: Registry, key: str) -> Registry:
    if key == "pipeline":
        return TRANSFORMS
    return parent


def _build_value(value: Any, registry: Registry, key_path: str, key: str) -> Any:
    if key.endswith("_cfg"):
        return value
    if _is_buildable(value):
        return build(value, registry, key_path)
    if isinstance(value, list) and any(_is_buildable(v) for v in value):
        return [_build_value(v, registry, f"{key_path}.{i}", key) for i, v in enumerate(value)]
    return value


def _built_later(key: str, value: Any) -> bool:
    """True for a value that build() turns into objects before the call."""
    return not key.endswith("_cfg") and (
        _is_buildable(value) or (isinstance(value, list) and any(_is_buildable(v) for v in value)))


def check_types(cfg: Any, registry: Registry, key_path: str) -> None:
    """Walk ``cfg`` as :func:`build` would, checking every ``type`` and plain argument without building.

    Lets a run stop on a misspelt type or a wrong value before it loads data or builds a model.
    """
    if isinstance(cfg, dict):
        if "type" in cfg and isinstance(cfg["type"], str):
            target = registry.get(cfg["type"], f"{key_path}.type")
            check_arguments(target, {k: v for k, v in cfg.items()
                                     if k != "type" and not _built_later(k, v)}, key_path)
        raw = _dict_args(target) if "type" in cfg and isinstance(cfg["type"], str) else ()
        for key, value in cfg.items():
            # Non-string keys are data (Flip's flip_label_map {86: 87, ...}), never configs.
            if isinstance(key, str) and key != "type" and not key.endswith("_cfg") and key not in raw:
                check_types(value, _child_registry(registry, key), f"{key_path}.{key}")
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            check_types(value, registry, f"{key_path}.{i}")


# ---------------------------------------------------------------- argument values
class Constraint:
    """A condition on a number: ``Annotated[int, Positive]``, or an entry of :data:`RANGES`."""

    def __init__(self, words: str, holds: Callable[[Any], bool], before_noun: bool = True) -> None:
        self.words, self.holds, self.before_noun = words, holds, before_noun

    def __repr__(self) -> str:
        return self.words


Positive = Constraint("positive", lambda v: v > 0)
NonNegative = Constraint("non-negative", lambda v: v >= 0)


def Between(low: float, high: float) -> Constraint:
    return Constraint(f"between {low} and {high}", lambda v: low <= v <= high, before_noun=False)


# Ranges of argument names that many constructors share. They apply wherever a
# constructor takes an argument of that name, torch's optimisers included, whose
# annotations say `float` but not which floats.
RANGES: dict[str, Constraint] = {
    "num_classes": Positive, "in_channels": Positive, "depth": Positive, "num_segments": Positive,
    "max_epochs": Positive, "max_iters": Positive, "val_interval": Positive, "interval": Positive,
    "accumulative_counts": Positive,
    "batch_size": Positive, "num_workers": NonNegative,
    "clip_len": Positive, "num_clips": Positive, "frame_interval": Positive,
    "lr": NonNegative, "momentum": NonNegative, "weight_decay": NonNegative,
    "dropout_ratio": Between(0, 1),
}


def check_arguments(target: Callable[..., Any], kwargs: dict[str, Any], key_path: str) -> None:
    """Each keyword must fit its parameter's annotation (and its name's range); names it lacks pass."""
    hints = _type_hints(target)
    for name, value in kwargs.items():
        check_value(value, hints.get(name, Any), f"{key_path}.{name}", name)


def check_value(value: Any, annotation: Any, key_path: str, name: str = "") -> None:
    """Raise a ConfigError naming ``key_path`` (or the item in it) when ``value`` does not fit."""
    constraints = (RANGES[name],) if name in RANGES else ()
    found = _mismatch(value, annotation, key_path, constraints)
    if found is not None:
        path, expected, got = found
        text = repr(got)
        text = text if len(text) <= 60 else text[:57] + "..."
        raise ConfigError(f"{path}: expected {expected}, got {text}")


_UNIONS = (Union, types.UnionType)
_SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.MutableSequence,
              collections.abc.Collection, collections.abc.Iterable)
_MAPPINGS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)
_NOUNS = {int: "int", float: "number", bool: "bool", str: "string", bytes: "bytes object"}


def _mismatch(value: Any, ann: Any, path: str,
              constraints: tuple[Constraint, ...]) -> tuple[str, str, Any] | None:
    """None when ``value`` fits ``ann``; else (key path, what was expected, value) of the part at fault."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is Annotated:
        extra = tuple(c for c in ann.__metadata__ if isinstance(c, Constraint))
        return _mismatch(value, args[0], path, constraints + extra)
    if origin in _UNIONS:
        found = [_mismatch(value, a, path, constraints) for a in args]
        if any(f is None for f in found):
            return None
        # A member whose outer type fits (a list, for Sequence[int] | None) knows which item is wrong.
        deeper = [f for f in found if f[0] != path]
        return deeper[0] if len(deeper) == 1 else (path, _describe(ann, constraints), value)
    if not _fits(value, ann, origin, constraints):
        return path, _describe(ann, constraints), value
    if origin in _SEQUENCES and args and isinstance(value, (list, tuple)):
        items = args[:1] * len(value) if origin is not tuple or args[-1] is Ellipsis else args
        for i, (item, item_ann) in enumerate(zip(value, items)):
            found = _mismatch(item, item_ann, f"{path}.{i}", ())
            if found is not None:
                return found
    if origin in _MAPPINGS and len(args) == 2 and isinstance(value, collections.abc.Mapping):
        for key, item in value.items():
            found = _mismatch(item, args[1], f"{path}.{key}", ())
            if found is not None:
                return found
    return None


def _fits(value: Any, ann: Any, origin: Any, constraints: tuple[Constraint, ...]) -> bool:
    """The outer type only (items are checked by the caller)."""
    if ann in (int, float):
        kind = numbers.Integral if ann is int else numbers.Real
        return isinstance(value, kind) and _is_number(value) and all(c.holds(value) for c in constraints)
    if ann is bool:
        return isinstance(value, bool) or (isinstance(value, numbers.Integral) and value in (0, 1))
    if ann is None or ann is type(None):
        return value is None
    if origin is Literal:
        return value in typing.get_args(ann)
    if origin is tuple and typing.get_args(ann) and typing.get_args(ann)[-1] is not Ellipsis:
        # configs write lists for tuples
        return isinstance(value, (list, tuple)) and len(value) == len(typing.get_args(ann))
    if origin in _SEQUENCES or ann in _SEQUENCES:
        if origin is collections.abc.Iterable or ann is collections.abc.Iterable:
            return isinstance(value, collections.abc.Iterable) and not isinstance(value, (str, bytes))
        return isinstance(value, (list, tuple))
    if origin in _MAPPINGS or ann in _MAPPINGS:
        return isinstance(value, collections.abc.Mapping)
    if origin is collections.abc.Callable or ann is collections.abc.Callable:
        return callable(value)
    if isinstance(ann, type) and ann not in (object, Any):  # Any is a class since Python 3.11
        try:
            return isinstance(value, ann)
        except TypeError:  # a Protocol that cannot be checked at run time
            return True
    # Any (no annotation), a TypeVar, a string that did not evaluate: only a number's range is known.
    return not (_is_number(value) and not all(c.holds(value) for c in constraints))


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _describe(ann: Any, constraints: tuple[Constraint, ...] = ()) -> str:
    """``Annotated[int, Positive] | None`` -> 'a positive int or None'."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is Annotated:
        return _describe(args[0], constraints + tuple(c for c in ann.__metadata__ if isinstance(c, Constraint)))
    if origin in _UNIONS:
        names = list(dict.fromkeys(_describe(a, constraints) for a in args))
        return ", ".join(names[:-1]) + " or " + names[-1]
    if ann is None or ann is type(None):
        return "None"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if ann in (int, float):
        words = [c.words for c in constraints if c.before_noun] + [_NOUNS[ann]]
        words += [c.words for c in constraints if not c.before_noun]
        return _article(" ".join(words))
    if origin is tuple and args and args[-1] is not Ellipsis:
        return f"a list of {len(args)} items"
    if origin in _SEQUENCES or ann in _SEQUENCES:
        return "a list"
    if origin in _MAPPINGS or ann in _MAPPINGS:
        return "a dict"
    if origin is collections.abc.Callable or ann is collections.abc.Callable:
        return "a callable"
    if ann in _NOUNS:
        return _article(_NOUNS[ann])
    if not isinstance(ann, type) or ann in (object, Any):  # Any & co: only a range was broken
        return _describe(float, constraints)
    return _article(ann.__name__)


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _type_hints(target: Callable[..., Any]) -> dict[str, Any]:
    try:
        return _cached_hints(target)
    except TypeError:  # an unhashable callable object
        return _hints_of(target)


@functools.lru_cache(maxsize=None)
def _cached_hints(target: Callable[..., Any]) -> dict[str, Any]:
    return _hints_of(target)


def _hints_of(target: Callable[..., Any]) -> dict[str, Any]:
    func = target.__init__ if isinstance(target, type) else target
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception:  # noqa: BLE001 - a name imported only for type checkers: keep the rest
        pass
    try:
        parameters = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return {}
    hints = {}
    for p in parameters:
        ann = p.annotation
        if isinstance(ann, str):
            try:
                ann = eval(ann, getattr(func, "__globals__", {}))  # noqa: S307 - the module's own annotation
            except Exception:  # noqa: BLE001
                continue
        if ann is not inspect.Parameter.empty:
            hints[p.name] = ann
    return hints
