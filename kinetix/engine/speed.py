"""Settings that make the model itself faster: channels-last memory and ``torch.compile``.

Both are config switches, read by the runner before the model is wrapped for DDP:

* ``channels_last=True|False`` (default: on for CUDA, off elsewhere): convolution weights
  in channels-last order (``channels_last_3d`` for 3D kernels), which cuDNN's fastest
  kernels (tensor cores in bf16/fp16) want; 3D inputs are converted in the
  preprocessor's float pass. On the CPU it mostly costs conversions, hence off.
* ``compile=True`` or ``compile=dict(backend=..., mode=..., fullgraph=..., dynamic=...)``
  (mmengine's key): the backbone, neck and head are compiled in place
  (``nn.Module.compile``), so the state-dict keys stay those of MMAction2. Shapes must
  not change between steps or every step would compile again: training drops the last,
  short batch, and a short test batch is padded to the full size. Graphs are static
  (``dynamic=False`` unless the config says otherwise), so a run compiles once per input
  shape it meets (training, validation, test), never per batch (a training batch shortened by
  undecodable videos is one more shape per size). Not dynamo's automatic
  dynamic shapes: the first shape-generic trace of the tiny TSM took 44 s of symbolic
  shape algebra on a 2-core CPU, against about 2 s for a static one (docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from kinetix.errors import ConfigError

COMPILE_KEYS = ("backend", "mode", "fullgraph", "dynamic", "options", "disable")


def use_channels_last(cfg: dict, device: torch.device) -> bool:
    value = cfg.get("channels_last")
    if value is None:
        return device.type == "cuda"
    if not isinstance(value, bool):
        raise ConfigError(f"channels_last: expected True or False, got {value!r}")
    return value


def to_channels_last(model: nn.Module) -> int:
    """Put every 4-d and 5-d parameter (convolution kernels) in channels-last order, and
    ask the preprocessor for channels-last 3D inputs. Returns the number of tensors moved.

    ``nn.Module.to(memory_format=...)`` takes one format for all, and a 3D model also holds
    4-d tensors (its 2D stem or head), so each tensor gets the format of its rank.
    """
    moved = 0
    with torch.no_grad():
        for param in model.parameters():
            fmt = {4: torch.channels_last, 5: torch.channels_last_3d}.get(param.dim())
            if fmt is not None:
                param.data = param.data.contiguous(memory_format=fmt)
                moved += 1
    pre = getattr(model, "data_preprocessor", None)
    if pre is not None and getattr(pre, "format_shape", None) == "NCTHW":
        pre.memory_format = torch.channels_last_3d
    return moved


def compile_options(cfg: dict) -> dict[str, Any] | None:
    """The options of ``compile`` (None: off), checked."""
    value = cfg.get("compile")
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"compile: expected True, False or a dict of torch.compile options, got {value!r}")
    unknown = sorted(set(value) - set(COMPILE_KEYS))
    if unknown:
        raise ConfigError(f"compile.{unknown[0]}: not a torch.compile option (one of {', '.join(COMPILE_KEYS)})")
    return dict(value)


def compile_model(model: nn.Module, options: dict[str, Any]) -> list[str]:
    """Compile the recognizer's backbone, neck and head in place; returns their names.

    The recognizer's own forward (mode dispatch, view averaging, losses on a dict of
    labels) stays eager: it is cheap, and compiling it would trace Python branches.
    """
    compiled = []
    options = {"dynamic": False, **options}
    for name in ("backbone", "neck", "cls_head"):
        part = getattr(model, name, None)
        if isinstance(part, nn.Module):
            part.compile(**options)
            compiled.append(name)
    if not compiled:
        raise ConfigError(f"compile: {type(model).__name__} has no backbone, neck or cls_head to compile")
    return compiled
