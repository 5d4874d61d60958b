"""Non-local block (Wang et al., 2018) for 3D feature maps, with mmcv's ``NonLocal3d`` names.

Every position attends to every other position of the clip (T*H*W of them) and the
attended features, projected back by ``conv_out``, are added to the input. The
pairwise function is picked by ``mode``; ``sub_sample`` max-pools ``g`` and ``phi``
spatially by 2 so the attention matrix is 4x smaller.

State-dict names (``g``, ``theta``, ``phi``, ``conv_out``, ``concat_project``) and the
``nn.Sequential(conv, pool)`` wrapping under ``sub_sample`` (``g.0.conv.weight``) follow
mmcv, so MMAction2 checkpoints load unchanged.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.layers import ConvModule, constant_init, normal_init

MODES = ("gaussian", "embedded_gaussian", "dot_product", "concatenation")


class NonLocal3d(nn.Module):
    def __init__(self, in_channels: int, sub_sample: bool = False,
                 conv_cfg: dict = dict(type="Conv3d"), reduction: int = 2,
                 use_scale: bool = True, norm_cfg: dict | None = None,
                 mode: str = "embedded_gaussian", std: float = 0.01,
                 zeros_init: bool = True) -> None:
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"model.backbone.non_local_cfg.mode: {mode!r} is not one of {MODES}")
        self.in_channels = in_channels
        self.reduction, self.use_scale, self.mode = reduction, use_scale, mode
        self.sub_sample = sub_sample
        self.inter_channels = max(in_channels // reduction, 1)
        inter = self.inter_channels

        def proj(cin: int, cout: int) -> ConvModule:
            return ConvModule(cin, cout, 1, conv_cfg=conv_cfg, act_cfg=None)

        self.g: nn.Module = proj(in_channels, inter)
        # conv_out alone gets the norm; with zeros_init it starts as zero, so the block
        # starts as identity and can be dropped into a pretrained network.
        self.conv_out = ConvModule(inter, in_channels, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                   act_cfg=None)
        if mode != "gaussian":
            self.theta = proj(in_channels, inter)
            self.phi: nn.Module = proj(in_channels, inter)
        if mode == "concatenation":
            self.concat_project = ConvModule(inter * 2, 1, 1, bias=False,
                                             act_cfg=dict(type="ReLU"))
        self._init(std, zeros_init)
        if sub_sample:
            pool = nn.MaxPool3d(kernel_size=(1, 2, 2))
            self.g = nn.Sequential(self.g, pool)
            self.phi = nn.Sequential(self.phi, pool) if mode != "gaussian" else pool

    def _init(self, std: float, zeros_init: bool) -> None:
        for m in [self.g] + ([self.theta, self.phi] if self.mode != "gaussian" else []):
            normal_init(m.conv, std=std)
        last = self.conv_out.norm if self.conv_out.norm is not None else self.conv_out.conv
        if zeros_init:
            constant_init(last, 0.0)
        else:
            normal_init(last, std=std)

    def _pairwise(self, theta_x: torch.Tensor, phi_x: torch.Tensor) -> torch.Tensor:
        if self.mode == "concatenation":
            # theta_x (N, C', P, 1), phi_x (N, C', 1, Q): every (p, q) pair, projected to 1.
            p, q = theta_x.shape[2], phi_x.shape[3]
            pairs = torch.cat([theta_x.expand(-1, -1, p, q), phi_x.expand(-1, -1, p, q)], dim=1)
            weight = self.concat_project(pairs).squeeze(1)
            return weight / weight.shape[-1]
        weight = torch.matmul(theta_x, phi_x)
        if self.mode == "dot_product":
            return weight / weight.shape[-1]
        if self.mode == "embedded_gaussian" and self.use_scale:
            weight = weight / theta_x.shape[-1] ** 0.5
        return weight.softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        g_x = self.g(x).reshape(n, self.inter_channels, -1).transpose(1, 2)  # (N, Q, C')
        if self.mode == "gaussian":
            # No embeddings: the raw features are compared (phi is only the pool, if any).
            theta_x = x.reshape(n, self.in_channels, -1).transpose(1, 2)
            phi_src = self.phi(x) if self.sub_sample else x
            phi_x = phi_src.reshape(n, self.in_channels, -1)
        elif self.mode == "concatenation":
            theta_x = self.theta(x).reshape(n, self.inter_channels, -1, 1)
            phi_x = self.phi(x).reshape(n, self.inter_channels, 1, -1)
        else:
            theta_x = self.theta(x).reshape(n, self.inter_channels, -1).transpose(1, 2)
            phi_x = self.phi(x).reshape(n, self.inter_channels, -1)
        y = torch.matmul(self._pairwise(theta_x, phi_x), g_x)  # (N, P, C')
        y = y.transpose(1, 2).reshape(n, self.inter_channels, *x.shape[2:])
        return x + self.conv_out(y)


def build_non_local(in_channels: int, non_local_cfg: dict) -> NonLocal3d:
    """A ``NonLocal3d`` from a backbone's ``non_local_cfg``; a bad key is a one-line ConfigError."""
    if not isinstance(non_local_cfg, dict):
        raise ConfigError(f"model.backbone.non_local_cfg: expected a dict, got {non_local_cfg!r}")
    try:
        inspect.signature(NonLocal3d).bind(in_channels, **non_local_cfg)
    except TypeError as exc:
        raise ConfigError(f"model.backbone.non_local_cfg: {exc}") from None
    return NonLocal3d(in_channels, **non_local_cfg)
