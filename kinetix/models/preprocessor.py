"""The data preprocessor: batch dict on the CPU -> normalised float inputs on the model's device.

Frames cross the host-device link as uint8 (4x less traffic than float32) and
are converted and normalised on the device. ``mean`` / ``std`` are
non-persistent buffers: they follow ``.to(device)`` but add no state-dict keys,
so checkpoints keep MMAction2's key set.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from kinetix.errors import ConfigError, DataError
from kinetix.models.blending import BaseMiniBatchBlending
from kinetix.registry import MODELS, build

# format_shape -> (inputs rank including batch axis, layout shown in errors)
_FORMATS = {"NCHW": (5, "(B, N, C, H, W)"), "NCTHW": (6, "(B, V, C, T, H, W)"),
            # RecognizerOmni's mix: a batch of images, or a batch of clips (one kind a batch)
            "MIX2d3d": (6, "(B, C, H, W) images or (B, V, C, T, H, W) clips")}


@MODELS.register
class ActionDataPreprocessor(nn.Module):
    mean: torch.Tensor | None
    std: torch.Tensor | None

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 to_rgb: bool = False, to_float32: bool = True, format_shape: str = "NCHW",
                 blending: BaseMiniBatchBlending | dict | None = None) -> None:
        super().__init__()
        if format_shape not in _FORMATS:
            raise ConfigError(f"model.data_preprocessor.format_shape: {format_shape!r} is not one "
                              f"of {sorted(_FORMATS)}")
        if (mean is None) != (std is None):
            raise ConfigError("model.data_preprocessor: give both mean and std, or neither")
        self.format_shape = format_shape
        self.to_rgb = to_rgb
        self.to_float32 = to_float32
        # channels_last_3d for 3D CNNs on GPUs (kinetix.engine.speed sets it)
        self.memory_format = torch.contiguous_format
        # Channels sit at axis 2 of the batched inputs; the stats broadcast over the axes after it.
        trailing = (1,) * (_FORMATS[format_shape][0] - 3)
        for name, values in (("mean", mean), ("std", std)):
            stat = None if values is None else torch.as_tensor(values, dtype=torch.float32)
            self.register_buffer(name, None if stat is None else stat.view(-1, *trailing),
                                 persistent=False)
        # Tells us the module's device even without mean/std.
        self.register_buffer("_device_probe", torch.empty(0), persistent=False)
        if isinstance(blending, dict):
            blending = build(blending, MODELS, "model.data_preprocessor.blending")
        self.blending = blending

    def forward(self, batch: dict[str, Any] | torch.Tensor, training: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Return ``(inputs, labels)`` on this module's device; labels may be None."""
        if isinstance(batch, torch.Tensor):
            batch = {"inputs": batch}
        if "inputs" not in batch:
            raise DataError(f"model.data_preprocessor: batch has no 'inputs' (keys {sorted(batch)})")
        device = self._device_probe.device
        inputs: torch.Tensor = batch["inputs"]
        rank, layout = _FORMATS[self.format_shape]
        images = self.format_shape == "MIX2d3d" and inputs.dim() == 4
        if inputs.dim() != rank and not images:
            raise ConfigError(f"model.data_preprocessor.format_shape: {self.format_shape!r} expects "
                              f"inputs {layout}, got shape {tuple(inputs.shape)}; does the "
                              f"pipeline's FormatShape match?")
        inputs = inputs.to(device, non_blocking=True)
        labels = batch.get("labels")
        if labels is not None:
            labels = torch.as_tensor(labels).to(device, non_blocking=True)
        if self.to_rgb:
            inputs = inputs.flip(1 if images else 2)  # BGR <-> RGB on the channel axis
        # Contiguous (or channels-last) in the same pass: collated inputs are transposed views.
        inputs = self._dense(inputs, torch.float32 if self.to_float32 or self.mean is not None
                             else inputs.dtype)
        if self.mean is not None:
            mean, std = self.mean, self.std
            if images:   # the stats were shaped for clips; images have no T axis
                mean, std = mean.view(-1, 1, 1), std.view(-1, 1, 1)
            inputs = (inputs - mean) / std
        if training and self.blending is not None:
            if labels is None:
                raise DataError("model.data_preprocessor.blending: the batch has no 'labels'")
            inputs, labels = self.blending(inputs, labels)
        return inputs, labels

    def _dense(self, inputs: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if self.memory_format == torch.channels_last_3d and inputs.dim() == 6:
            # (N, views, C, T, H, W) laid out as (N, views, T, H, W, C): once the recognizer
            # merges N and views, each clip is channels_last_3d, as the weights are.
            return inputs.permute(0, 1, 3, 4, 5, 2).to(
                dtype, memory_format=torch.contiguous_format).permute(0, 1, 5, 2, 3, 4)
        return inputs.to(dtype, memory_format=torch.contiguous_format)
