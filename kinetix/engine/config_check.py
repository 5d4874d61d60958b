"""Check a whole config, and the paths a run writes to, before any work starts.

Every ``type`` is looked up in its registry up front, and every plain argument
is checked against its constructor (see ``kinetix.registry.check_arguments``),
so a typo in the test pipeline stops the run in the first second, not after an
hour of training. Keys that only mean something to mmengine are accepted with
one warning each. Output folders are created and written to once, so a work
dir that cannot be written fails with the path and the OS's reason.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from typing import Any

from kinetix.config.schema import ENGINE_KEYS, MMENGINE_ONLY_KEYS
from kinetix.engine.vis_backends import check_visualizer
from kinetix.errors import ConfigError, warn_config
from kinetix.registry import (DATASETS, HOOKS, LOOPS, METRICS, MODELS, OPTIMIZERS, SAMPLERS,
                              SCHEDULERS, check_types, check_value)


@LOOPS.register
def EpochBasedTrainLoop(max_epochs: int, val_begin: int = 1, val_interval: int = 1) -> dict[str, Any]:
    # build() has checked the values: max_epochs and val_interval are positive ints.
    return {"max_epochs": max_epochs, "val_begin": val_begin, "val_interval": val_interval, "by_epoch": True}


@LOOPS.register
def IterBasedTrainLoop(max_iters: int, val_begin: int = 1, val_interval: int = 1000) -> dict[str, Any]:
    return {"max_iters": max_iters, "val_begin": val_begin, "val_interval": val_interval, "by_epoch": False}


@LOOPS.register
def MultiLoaderEpochBasedTrainLoop(other_loaders: list[dict], max_epochs: int, val_begin: int = 1,
                                   val_interval: int = 1) -> dict[str, Any]:
    """MMAction2's loop for joint training on several sources (OmniSource): each iteration
    takes one batch of ``train_dataloader`` and one of each of ``other_loaders`` (dataloader
    configs), and the model sums one loss per source. An epoch ends when the first loader runs
    out; every loader then starts a new, reshuffled pass."""
    return {**EpochBasedTrainLoop(max_epochs, val_begin, val_interval), "other_loaders": list(other_loaders)}


@LOOPS.register
def ValLoop(fp16: bool = False) -> dict[str, bool]:
    return {"fp16": fp16}


@LOOPS.register
def TestLoop(fp16: bool = False) -> dict[str, bool]:
    return {"fp16": fp16}


def train_loop_cfg(cfg: dict) -> dict:
    """``train_cfg`` with its type filled in (mmengine also accepts ``by_epoch=True/False``)."""
    loop = dict(cfg.get("train_cfg") or {})
    if "type" not in loop:
        loop["type"] = "EpochBasedTrainLoop" if loop.pop("by_epoch", True) else "IterBasedTrainLoop"
    return loop


def _dataloader_types(cfg: dict, name: str) -> None:
    _loader_types(cfg.get(name), name)


def _loader_types(loader: Any, name: str) -> None:
    if loader is None:
        return
    if not isinstance(loader, dict):
        raise ConfigError(f"{name}: expected a dict, got {type(loader).__name__}")
    if "dataset" not in loader:
        raise ConfigError(f"{name}.dataset: missing")
    check_types(loader["dataset"], DATASETS, f"{name}.dataset")
    if "sampler" in loader:
        check_types(loader["sampler"], SAMPLERS, f"{name}.sampler")


def check_config(cfg: dict, mode: str) -> None:
    """Raise a ConfigError naming the first problem; warn about ignored keys."""
    for key, annotation in ENGINE_KEYS.items():
        if key in cfg:
            check_value(cfg[key], annotation, key)
    required = {"train": ("model", "train_dataloader", "train_cfg", "optim_wrapper"),
                "test": ("model", "test_dataloader", "test_evaluator")}[mode]
    for key in required:
        if cfg.get(key) is None:
            raise ConfigError(f"{key}: missing from the config (needed to {mode})")
    check_types(cfg["model"], MODELS, "model")
    for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
        _dataloader_types(cfg, name)
    for name in ("val_evaluator", "test_evaluator"):
        check_types(cfg.get(name), METRICS, name)
    optim = cfg.get("optim_wrapper") or {}
    check_types(optim.get("optimizer"), OPTIMIZERS, "optim_wrapper.optimizer")
    check_types(cfg.get("param_scheduler"), SCHEDULERS, "param_scheduler")
    check_types(cfg.get("default_hooks"), HOOKS, "default_hooks")
    _train_loop_types(train_loop_cfg(cfg))
    for name in ("val_cfg", "test_cfg"):
        check_types(cfg.get(name), LOOPS, name)
    check_visualizer(cfg.get("visualizer"))
    warn_mmengine_only(cfg)


def _train_loop_types(loop: dict) -> None:
    # other_loaders holds dataloader configs: their types live in DATASETS and SAMPLERS.
    others = loop.pop("other_loaders", None)
    check_types(loop, LOOPS, "train_cfg")
    if others is None:
        return
    kind = loop.get("type")
    if isinstance(kind, str) and "other_loaders" not in inspect.signature(LOOPS.get(kind)).parameters:
        raise ConfigError(f"train_cfg.other_loaders: {kind} takes no other loaders; "
                          f"use type='MultiLoaderEpochBasedTrainLoop'")
    check_value(others, list[dict], "train_cfg.other_loaders")
    for i, loader in enumerate(others):
        _loader_types(loader, f"train_cfg.other_loaders.{i}")


def warn_mmengine_only(cfg: dict[str, Any]) -> None:
    for key in MMENGINE_ONLY_KEYS:
        if key in cfg:
            warn_config(key, "used only by mmengine; kinetix ignores it")
    env = cfg.get("env_cfg") or {}
    for key in env:
        if key not in ("cudnn_benchmark", "dist_cfg"):
            warn_config(f"env_cfg.{key}", "used only by mmengine; kinetix ignores it")
    for key in (env.get("dist_cfg") or {}):
        if key not in ("backend", "timeout"):
            warn_config(f"env_cfg.dist_cfg.{key}", "not honoured by kinetix (it reads backend and timeout); "
                        "ignored")


def check_output_dir(path: str | os.PathLike, what: str) -> None:
    """Create folder ``path`` if needed and write a file in it; else one line with the path and why."""
    path = os.fspath(path)
    if os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(f"{what} {path}: is a file, not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        _probe(path)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot create or write this folder: {exc.strerror or exc}") from None


def check_output_file(path: str | os.PathLike, what: str) -> None:
    """The folder of file ``path`` must exist and take a new file; else one line with the path and why."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ConfigError(f"{what} {path}: is a folder, not a file")
    folder = os.path.dirname(os.path.abspath(path))
    try:
        _probe(folder)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot write in {folder}: {exc.strerror or exc}") from None


def _probe(folder: str) -> None:
    """Create and remove a file: only trying tells (read-only mounts, /proc, ACLs, root)."""
    fd, probe = tempfile.mkstemp(dir=folder, prefix=".kinetix-probe-")
    os.close(fd)
    os.unlink(probe)
