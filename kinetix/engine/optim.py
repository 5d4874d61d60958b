"""Optimisers from ``optim_wrapper`` configs, with MMAction2's parameter-wise options.

``optim_wrapper = dict(optimizer=dict(type='SGD', lr=..., ...), clip_grad=dict(max_norm=...),
paramwise_cfg=..., constructor=...)``. The wrapper itself is not an object here:
the trainer does the backward, clipping and stepping, and this module only
builds the ``torch.optim`` optimiser with the right parameter groups.
``type='AmpOptimWrapper'`` with ``dtype`` and ``loss_scale`` asks for mixed
precision; :mod:`kinetix.engine.precision` decides what the device runs.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import nn

from kinetix.engine.precision import parse_amp_options
from kinetix.errors import ConfigError, warn_config
from kinetix.registry import OPTIMIZERS, build

for _cls in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW, torch.optim.RMSprop):
    OPTIMIZERS.register(_cls)

_WRAPPER_KEYS = {"type", "optimizer", "clip_grad", "paramwise_cfg", "constructor",
                 "accumulative_counts", "dtype", "loss_scale"}
_WRAPPER_TYPES = {"OptimWrapper", "AmpOptimWrapper"}
_CONSTRUCTORS = {"DefaultOptimWrapperConstructor", "TSMOptimWrapperConstructor",
                 "SwinOptimWrapperConstructor", "LearningRateDecayOptimizerConstructor"}
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


def check_optim_wrapper(cfg: dict) -> None:
    """Reject what we would otherwise silently ignore."""
    for key in cfg:
        if key not in _WRAPPER_KEYS:
            raise ConfigError(f"optim_wrapper.{key}: unknown key; known: {', '.join(sorted(_WRAPPER_KEYS))}")
    if cfg.get("type", "OptimWrapper") not in _WRAPPER_TYPES:
        raise ConfigError(f"optim_wrapper.type: unknown wrapper {cfg['type']!r}; "
                          f"known: {', '.join(sorted(_WRAPPER_TYPES))}")
    if cfg.get("constructor", "DefaultOptimWrapperConstructor") not in _CONSTRUCTORS:
        raise ConfigError(f"optim_wrapper.constructor: unknown constructor {cfg['constructor']!r}; "
                          f"known: {', '.join(sorted(_CONSTRUCTORS))}")
    if "optimizer" not in cfg:
        raise ConfigError("optim_wrapper.optimizer: missing")
    counts = cfg.get("accumulative_counts", 1)
    if not isinstance(counts, int) or isinstance(counts, bool) or counts < 1:
        raise ConfigError(f"optim_wrapper.accumulative_counts: expected a positive int, got {counts!r}")
    parse_amp_options(cfg)  # dtype, loss_scale: checked here, used by engine.precision


# torch optimizers with a fused CUDA implementation, used by default on GPUs.
FUSED = ("SGD", "Adam", "AdamW")


def build_optimizer(cfg: dict, model: nn.Module, lr_scale: float = 1.0) -> torch.optim.Optimizer:
    """Build the optimiser; ``lr_scale`` is the --auto-scale-lr factor."""
    check_optim_wrapper(cfg)
    opt_cfg = dict(cfg["optimizer"])
    if "lr" not in opt_cfg:
        raise ConfigError("optim_wrapper.optimizer.lr: missing")
    opt_cfg["lr"] = opt_cfg["lr"] * lr_scale
    paramwise = cfg.get("paramwise_cfg") or {}
    if cfg.get("constructor") == "SwinOptimWrapperConstructor":
        groups = _swin_param_groups(model, opt_cfg, paramwise)
    elif cfg.get("constructor") == "LearningRateDecayOptimizerConstructor":
        groups = _layer_decay_param_groups(model, opt_cfg, paramwise)
    else:
        groups = _param_groups(model, opt_cfg, paramwise,
                               tsm=cfg.get("constructor") == "TSMOptimWrapperConstructor")
    if (opt_cfg.get("type") in FUSED and "fused" not in opt_cfg and "foreach" not in opt_cfg
            and all(p.is_cuda for g in groups for p in g["params"])):
        # One kernel for the update of all parameters, instead of several per tensor.
        opt_cfg["fused"] = True
    return build(dict(opt_cfg, params=groups), OPTIMIZERS, "optim_wrapper.optimizer")


def _named_leaf_params(model: nn.Module) -> Iterator[tuple[str, nn.Module, str, nn.Parameter]]:
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            if param.requires_grad:
                yield module_name, module, param_name, param


def _param_groups(model: nn.Module, opt_cfg: dict, paramwise: dict, tsm: bool) -> list[dict[str, Any]]:
    lr = opt_cfg["lr"]
    wd = opt_cfg.get("weight_decay", 0.0)
    known = {"norm_decay_mult", "bias_decay_mult", "bias_lr_mult", "fc_lr5", "custom_keys"}
    for key in paramwise:
        if key not in known:
            warn_config(f"optim_wrapper.paramwise_cfg.{key}", "not honoured by kinetix; ignored")
    fc_lr5 = tsm and paramwise.get("fc_lr5", True)
    custom = paramwise.get("custom_keys", {})
    groups: list[dict[str, Any]] = []
    for module_name, module, param_name, param in _named_leaf_params(model):
        full = f"{module_name}.{param_name}" if module_name else param_name
        group: dict[str, Any] = {"params": [param], "lr": lr, "weight_decay": wd}
        is_bias = param_name == "bias"
        if isinstance(module, _NORMS):
            group["weight_decay"] = wd * paramwise.get("norm_decay_mult", 0.0 if tsm else 1.0)
        elif is_bias:
            group["weight_decay"] = wd * paramwise.get("bias_decay_mult", 0.0 if tsm else 1.0)
            group["lr"] = lr * paramwise.get("bias_lr_mult", 2.0 if tsm else 1.0)
        if fc_lr5 and module_name.startswith("cls_head") and isinstance(module, nn.Linear):
            # TSM's recipe: the new classifier learns 5x (weights) / 10x (bias) faster.
            group["lr"] = lr * (10.0 if is_bias else 5.0)
        for key, mult in custom.items():
            if key in full:
                group["lr"] = lr * mult.get("lr_mult", 1.0)
                group["weight_decay"] = wd * mult.get("decay_mult", 1.0)
        groups.append(group)
    return _merge_groups(groups)


def _swin_param_groups(model: nn.Module, opt_cfg: dict, paramwise: dict) -> list[dict[str, Any]]:
    """MMAction2's SwinOptimWrapperConstructor: every ``paramwise_cfg`` key is a name fragment
    (``norm``, ``relative_position_bias_table``, ``backbone``...); a parameter whose name
    (prefixed ``base.``, as there) contains several gets the product of their multipliers."""
    lr, wd = opt_cfg["lr"], opt_cfg.get("weight_decay", 0.0)
    for key, mult in paramwise.items():
        if not isinstance(mult, dict):
            raise ConfigError(f"optim_wrapper.paramwise_cfg.{key}: expected a dict of lr_mult / "
                              f"decay_mult, got {mult!r}")
    groups: list[dict[str, Any]] = []
    for module_name, _, param_name, param in _named_leaf_params(model):
        full = f"base.{module_name}.{param_name}" if module_name else f"base.{param_name}"
        group: dict[str, Any] = {"params": [param], "lr": lr, "weight_decay": wd}
        for key, mult in paramwise.items():
            if key in full:
                group["lr"] *= mult.get("lr_mult", 1.0)
                group["weight_decay"] *= mult.get("decay_mult", 1.0)
        groups.append(group)
    return _merge_groups(groups)


def _layer_decay_param_groups(model: nn.Module, opt_cfg: dict, paramwise: dict) -> list[dict[str, Any]]:
    """MMAction2's LearningRateDecayOptimizerConstructor: layer-wise lr decay for MViT and ViT.

    A parameter's layer is 0 for the backbone's ``cls_token``, ``mask_token``, ``pos_embed``
    and ``patch_embed``, ``i + 1`` for ``backbone.blocks.i``, and ``num_layers + 1`` for the
    rest (last norms, head); its lr is ``lr * decay_rate ** (num_layers - layer + 1)``.
    1-d parameters and biases get no weight decay. The groups are MMAction2's, in its order
    and with its keys (``group_name`` ``layer_<id>_decay`` / ``layer_<id>_no_decay``,
    ``lr_scale``, ``param_names``), so an optimizer state saved by MMAction2 still fits.
    """
    where = "optim_wrapper.paramwise_cfg"
    for key in paramwise:
        if key not in ("num_layers", "decay_rate", "decay_type"):
            warn_config(f"{where}.{key}", "not used by LearningRateDecayOptimizerConstructor; ignored")
    num_layers, decay_rate = paramwise.get("num_layers"), paramwise.get("decay_rate")
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0:
        raise ConfigError(f"{where}.num_layers: expected the backbone's number of blocks, got {num_layers!r}")
    if isinstance(decay_rate, bool) or not isinstance(decay_rate, (int, float)) or decay_rate <= 0:
        raise ConfigError(f"{where}.decay_rate: expected a positive number, got {decay_rate!r}")
    decay_type = paramwise.get("decay_type", "layer_wise")
    if not isinstance(decay_type, str) or "layer_wise" not in decay_type:
        raise ConfigError(f"{where}.decay_type: only 'layer_wise' is supported, got {decay_type!r}")
    backbone = type(getattr(model, "backbone", None)).__name__
    if "MViT" not in backbone and "VisionTransformer" not in backbone:
        raise ConfigError(f"optim_wrapper.constructor: LearningRateDecayOptimizerConstructor knows the "
                          f"layers of MViT and VisionTransformer backbones, not of {backbone}")
    if any(isinstance(m, nn.modules.batchnorm._NormBase) for m in model.modules()):
        raise ConfigError("optim_wrapper.constructor: LearningRateDecayOptimizerConstructor does not support "
                          "BatchNorm layers (as in MMAction2)")
    lr, wd = opt_cfg["lr"], opt_cfg.get("weight_decay")
    groups: dict[str, dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        no_decay = param.ndim == 1 or name.endswith(".bias")
        layer = _layer_id(name, num_layers)
        group_name = f"layer_{layer}_{'no_decay' if no_decay else 'decay'}"
        if group_name not in groups:
            scale = decay_rate ** (num_layers - layer + 1)
            group = {"params": [], "param_names": [], "lr": scale * lr, "lr_scale": scale,
                     "group_name": group_name}
            if no_decay or wd is not None:  # no weight_decay in the config: the optimizer's default
                group["weight_decay"] = 0.0 if no_decay else wd
            groups[group_name] = group
        groups[group_name]["params"].append(param)
        groups[group_name]["param_names"].append(name)
    return list(groups.values())


def _layer_id(name: str, num_layers: int) -> int:
    if name in ("backbone.cls_token", "backbone.mask_token", "backbone.pos_embed") or \
            name.startswith("backbone.patch_embed"):
        return 0
    if name.startswith("backbone.blocks."):
        return int(name.split(".")[2]) + 1
    return num_layers + 1


def _merge_groups(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One group per distinct (lr, weight_decay), in first-seen order, for a readable optimiser."""
    merged: dict[tuple[float, float], dict[str, Any]] = {}
    for g in groups:
        key = (g["lr"], g["weight_decay"])
        if key in merged:
            merged[key]["params"].extend(g["params"])
        else:
            merged[key] = dict(g, params=list(g["params"]))
    return list(merged.values())


def clip_gradients(model: nn.Module, clip_cfg: dict | None) -> torch.Tensor | None:
    """Clip by norm as ``clip_grad=dict(max_norm, norm_type)``; returns the norm before clipping."""
    if not clip_cfg:
        return None
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return None
    return nn.utils.clip_grad_norm_(params, max_norm=clip_cfg["max_norm"],
                                    norm_type=clip_cfg.get("norm_type", 2))
