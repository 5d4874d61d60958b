"""Registries: plain dicts from a config ``type`` name to a class or function.

There are no scopes and no parents. Each registry is a dict; registering a name
twice is an error, because a silent override is how two modules end up fighting
over ``ResNet``.

:func:`build` is the only place where config dicts turn into calls. It builds
nested configs first (children before parents), so constructors receive ready
objects and take explicit keyword arguments. Every error names the key path of
the config entry at fault, e.g. ``model.backbone.type``.

Two kinds of dict are passed through unbuilt:

* values of keys ending in ``_cfg`` (``norm_cfg``, ``conv_cfg``, ``act_cfg``,
  ``init_cfg``, ``train_cfg``, ...): these are layer *specs* a constructor uses
  many times, not objects;
* dicts without a ``type`` key (``data_prefix=dict(video=...)``).
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Iterable, Sequence, TypeVar

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
    kwargs = dict(defaults)
    for key, value in cfg.items():
        if key == "type":
            continue
        kwargs[key] = _build_value(value, _child_registry(registry, key), f"{key_path}.{key}", key)
    _check_signature(target, kwargs, key_path)
    return target(**kwargs)


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


def check_types(cfg: Any, registry: Registry, key_path: str) -> None:
    """Walk ``cfg`` as :func:`build` would, checking every ``type`` without building.

    Lets a run stop on a misspelt type before it loads data or builds a model.
    """
    if isinstance(cfg, dict):
        if "type" in cfg and isinstance(cfg["type"], str):
            registry.get(cfg["type"], f"{key_path}.type")
        for key, value in cfg.items():
            if key != "type" and not key.endswith("_cfg"):
                check_types(value, _child_registry(registry, key), f"{key_path}.{key}")
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            check_types(value, registry, f"{key_path}.{i}")
