"""Loading ``pretrained=...`` backbone weights (torchvision- or MMAction2-style).

A backbone's ``pretrained`` is applied by ``init_weights()``, not by the
constructor: MMAction2 configs name download URLs there, and building a model
to *test* a full checkpoint must not need them (mmengine likewise only calls
``init_weights`` when training).

Names are matched per ``ConvModule``. Our ``layer1.0.conv1`` (holding ``conv``
and ``bn``) corresponds to torchvision's ``layer1.0.conv1`` + ``layer1.0.bn1``
and to MMAction2's ``layer1.0.conv1.conv`` + ``layer1.0.conv1.bn``; our
``downsample`` to torchvision's ``downsample.0`` / ``downsample.1``. Wrapper
modules (``TemporalShift.net``, ``TemporalPool.net``, ``TABlock.block``, TIN's
``CombineNet.net2``) are dropped from
names on both sides, so a plain ResNet checkpoint loads into ResNetTSM and TANet. A 2D kernel
loaded into a 3D conv is inflated: repeated over time and divided by its length,
so a static clip gives the 2D network's response.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from kinetix.errors import CheckpointError, ConfigError
from kinetix.models.layers import ConvModule
from kinetix.utils.download import is_remote, resolve
from kinetix.utils.safe_load import safe_torch_load

_KEY = "model.backbone.pretrained"
_BN_FIELDS = ("weight", "bias", "running_mean", "running_var")


def read_state_dict(path: str, key: str = _KEY) -> dict[str, torch.Tensor]:
    """Read a state dict from a local file, an http(s) URL or ``torchvision://NAME``.

    URLs are downloaded once into the cache (``kinetix.utils.download``); the file is
    read as data only, never running code from it (``kinetix.utils.safe_load``).
    ``module.`` and ``backbone.`` prefixes are dropped.
    """
    return {_strip_prefixes(k): v for k, v in read_raw_state_dict(path, key).items()}


def read_raw_state_dict(path: str, key: str = _KEY) -> dict[str, torch.Tensor]:
    """:func:`read_state_dict` with the names as stored (no prefix dropped)."""
    local = resolve(path, f"{key}:")
    if not local.is_file():
        raise CheckpointError(f"{key}: no such file {path!r}")
    cached = f" (cached at {local})" if is_remote(path) else ""
    obj = safe_torch_load(local, label=f"{key}: {path}{cached}")
    # MMAction2 checkpoints nest the weights under "state_dict", the original (2D) Swin ones
    # under "model".
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(wrapper), dict):
            obj = obj[wrapper]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{key}: {path!r} holds no state dict of tensors")
    return dict(obj)


def _strip_prefixes(name: str) -> str:
    for prefix in ("module.", "backbone."):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


# TemporalShift/TemporalPool.net, TANet's TABlock.block, TIN's CombineNet.net2
_WRAPPERS = {"net", "block", "net2"}


def _canonical(name: str) -> str:
    """Drop wrapper components (``net``; TANet's ``block``; ``block`` of a non-local wrapper)
    so shifted, pooled, TA-blocked and non-local-wrapped layers match plain ones."""
    return ".".join(part for part in name.split(".") if part not in _WRAPPERS)


def _torchvision_names(module_name: str) -> tuple[str, str]:
    """(conv prefix, bn prefix) of a ConvModule's weights in a torchvision ResNet."""
    if module_name.endswith("downsample"):
        return f"{module_name}.0", f"{module_name}.1"
    # conv1 -> bn1, layer1.0.conv2 -> layer1.0.bn2 (only the last component changes)
    head, _, last = module_name.rpartition(".")
    bn = last.replace("conv", "bn")
    return module_name, f"{head}.{bn}" if head else bn


def load_resnet_weights(model: nn.Module, path: str, key: str = _KEY) -> None:
    """Load a 2D (or same-shaped 3D) ResNet checkpoint into ``model``'s ConvModules."""
    source = {_canonical(k): v for k, v in read_state_dict(path, key).items()}
    mm_style = any(k.endswith(".conv.weight") for k in source)
    loaded, skipped, total = 0, [], 0
    for name, module in model.named_modules():
        # SlowFast's lateral convs have no counterpart in a one-pathway checkpoint.
        if not isinstance(module, ConvModule) or "lateral" in name:
            continue
        cname = _canonical(name)
        if mm_style:
            conv_src, bn_src = f"{cname}.conv", f"{cname}.bn"
        else:
            conv_src, bn_src = _torchvision_names(cname)
        conv = module.conv
        for wrapper in ("net", "net2"):   # TemporalShift's net, TIN's CombineNet.net2
            conv = getattr(conv, wrapper, conv)
        targets = [(conv.weight, f"{conv_src}.weight")]
        if conv.bias is not None:
            targets.append((conv.bias, f"{conv_src}.bias"))
        norm = module.norm
        if norm is not None:
            for field in _BN_FIELDS:
                tensor = getattr(norm, field, None)
                if tensor is not None:
                    targets.append((tensor, f"{bn_src}.{field}"))
        for tensor, src_name in targets:
            total += 1
            src = source.get(src_name)
            if src is None:
                skipped.append(f"{src_name} (missing)")
                continue
            value = _fit(src, tensor)
            if value is None:
                skipped.append(f"{src_name} (shape {tuple(src.shape)} vs {tuple(tensor.shape)})")
                continue
            with torch.no_grad():
                tensor.copy_(value)
            loaded += 1
    if loaded == 0:
        raise CheckpointError(f"{key}: no parameter of {path!r} matches this backbone "
                              f"(expected names like 'conv1.weight' or 'conv1.conv.weight')")
    if skipped:
        shown = ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        warnings.warn(f"{key}: loaded {loaded}/{total} tensors from {path!r}; not loaded: {shown}",
                      stacklevel=2)


def _fit(src: torch.Tensor, dst: torch.Tensor) -> Any:
    if src.shape == dst.shape:
        return src
    # 2D kernel (O, I, kh, kw) into a 3D conv (O, I, kt, kh, kw): inflate.
    if src.dim() == 4 and dst.dim() == 5 and src.shape == dst.shape[:2] + dst.shape[3:]:
        kt = dst.shape[2]
        return src.unsqueeze(2).expand_as(dst) / kt
    # A SlowFast stage's first convs also take the lateral's channels, appended after the
    # pathway's own: those input channels start at zero (as MMAction2 inflates them).
    if src.dim() == 4 and dst.dim() == 5 and src.shape[0] == dst.shape[0] and \
            src.shape[1] < dst.shape[1] and src.shape[2:] == dst.shape[3:]:
        pad = src.new_zeros((src.shape[0], dst.shape[1] - src.shape[1]) + src.shape[2:])
        return _fit(torch.cat((src, pad), dim=1), dst)
    return None


def load_matching_weights(model: nn.Module, path: str, key: str = _KEY) -> None:
    """Load the tensors of a checkpoint whose names and shapes match ``model``'s (MMAction2's
    non-strict load for backbones with their own layout: C3D, X3D); warn about the rest."""
    state = read_state_dict(path, key)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    skipped = sorted(set(own) - set(usable))
    if skipped:
        shown = ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")
        warnings.warn(f"{key}: loaded {len(usable)}/{len(own)} tensors from {path!r}; "
                      f"not loaded: {shown}", stacklevel=2)


def pretrained_path(pretrained: object, key: str = "model.backbone.pretrained") -> str | None:
    """A backbone's ``pretrained`` setting checked: None (train from scratch) or a path/URL."""
    if pretrained is None:
        return None
    if not isinstance(pretrained, str):
        raise ConfigError(f"{key}: expected a path or None, got {pretrained!r}")
    return pretrained


def pretrained_init(init_cfg: object, key: str = "model.backbone.init_cfg") -> dict | None:
    """The ``dict(type='Pretrained', checkpoint=..., prefix=...)`` of an ``init_cfg`` (a dict
    or a list of them, as mmengine takes it), checked; None when it loads nothing."""
    items = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    for i, item in enumerate(items):
        if isinstance(item, dict) and item.get("type") == "Pretrained":
            where = f"{key}.{i}" if isinstance(init_cfg, (list, tuple)) else key
            checkpoint, prefix = item.get("checkpoint"), item.get("prefix")
            if not isinstance(checkpoint, str) or not checkpoint:
                raise ConfigError(f"{where}.checkpoint: expected a path or URL, got {checkpoint!r}")
            if prefix is not None and not isinstance(prefix, str):
                raise ConfigError(f"{where}.prefix: expected a string or None, got {prefix!r}")
            return {"checkpoint": checkpoint, "prefix": prefix, "key": where}
    return None


def load_pretrained_init(model: nn.Module, checkpoint: str, prefix: str | None = None,
                         key: str = "model.backbone.init_cfg") -> None:
    """mmengine's ``Pretrained`` init: with ``prefix`` ('backbone' or 'backbone.'), only the
    tensors named ``prefix.*``, the prefix stripped (a classifier's ImageNet checkpoint holds
    ``backbone.*`` and ``head.*``); without, every tensor (``module.`` stripped). The load is
    not strict, as mmengine's: tensors that do not fit are left as they are, named in a warning."""
    raw = read_raw_state_dict(checkpoint, f"{key}.checkpoint")
    if prefix:
        start = prefix if prefix.endswith(".") else prefix + "."
        state = {k[len(start):]: v for k, v in raw.items() if k.startswith(start)}
        if not state:
            firsts = sorted({k.split(".")[0] for k in raw})
            raise CheckpointError(f"{key}.prefix: no tensor name of {checkpoint!r} starts with "
                                  f"{start!r} (its names start with {', '.join(firsts[:5])})")
    else:
        state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in raw.items()}
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise CheckpointError(f"{key}.checkpoint: no tensor of {checkpoint!r} matches this model "
                              f"(it has e.g. {next(iter(state))!r}, the model "
                              f"{next(iter(own))!r})")
    model.load_state_dict(usable, strict=False)
    problems = [f"{k} (missing)" for k in own if k not in state and not k.endswith("num_batches_tracked")]
    problems += [f"{k} (shape {tuple(v.shape)} vs {tuple(own[k].shape)})"
                 for k, v in state.items() if k in own and own[k].shape != v.shape]
    problems += [f"{k} (not in the model)" for k in state if k not in own]
    if problems:
        shown = ", ".join(problems[:5]) + (", ..." if len(problems) > 5 else "")
        warnings.warn(f"{key}: loaded {len(usable)}/{len(own)} tensors from {checkpoint!r}; "
                      f"{shown}", stacklevel=2)
