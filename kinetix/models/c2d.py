"""C2D: a 2D ResNet applied frame by frame to a clip, with two temporal max-pools.

The baseline of "Non-local Neural Networks" (https://arxiv.org/abs/1711.07971).
Input and output are ``(N, C, T, H, W)``; the convs see ``(N * T, C, H, W)``. The
stem's spatial pool is a 3D pool without padding, and after ``layer1`` a (2, 1, 1)
pool halves time. The weights are a plain ResNet's (``pretrained`` loads one).
"""

from __future__ import annotations

import torch
from torch import nn

from kinetix.models.resnet import ResNet
from kinetix.registry import MODELS


def _to_frames(x: torch.Tensor) -> torch.Tensor:
    """(N, C, T, H, W) -> (N * T, C, H, W)."""
    return x.transpose(1, 2).flatten(0, 1)


def _to_clips(x: torch.Tensor, batch: int) -> torch.Tensor:
    """(N * T, C, H, W) -> (N, C, T, H, W)."""
    return x.reshape((batch, -1) + x.shape[1:]).transpose(1, 2)


@MODELS.register
class C2D(ResNet):
    """Same constructor as :class:`ResNet`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        del self.maxpool  # the 2D stem pool is replaced by the two 3D pools below
        self.maxpool3d_1 = nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2))
        self.maxpool3d_2 = nn.MaxPool3d(kernel_size=(2, 1, 1), stride=(2, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        batch = x.shape[0]
        x = self.maxpool3d_1(_to_clips(self.conv1(_to_frames(x)), batch))
        x = _to_frames(x)
        outs = []
        for i, name in enumerate(self.res_layers):
            x = getattr(self, name)(x)
            if i == 0:
                x = _to_frames(self.maxpool3d_2(_to_clips(x, batch)))
            if i in self.out_indices:
                outs.append(_to_clips(x, batch))
        return outs[0] if len(outs) == 1 else tuple(outs)
