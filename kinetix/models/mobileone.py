"""MobileOne (mmpretrain's backbone) and its TSM variant (MMAction2's), with their parameter names.

A MobileOne block adds up, before its SE layer and ReLU: ``num_convs`` conv+BN branches
(``branch_conv_list``), a 1x1 conv+BN (``branch_scale``, in blocks with a larger kernel) and
a BN of the input itself (``branch_norm``, where the block keeps the shape). At inference
every branch is linear, so :meth:`MobileOneBlock.switch_to_deploy` fuses them into one conv
with a bias (``branch_reparam``); ``deploy=True`` builds that single-branch form directly.
A deploy-form model also accepts a training-form state dict (a checkpoint trained with the
non-deploy config): the branches are fused as they load, which MMAction2 needs a conversion
script for.

Stages: ``stage0`` (3x3, stride 2), then ``stage1..stage4``, each a Sequential of
(depthwise 3x3, pointwise 1x1) block pairs; ``out_indices`` count ``stage1`` as 0.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kinetix.errors import CheckpointError, ConfigError
from kinetix.models.layers import (ConvModule, build_activation_layer, build_conv_layer,
                                   build_norm_layer, constant_init, freeze, is_norm, kaiming_init,
                                   keep_norm_statistics, run_stages)
from kinetix.models.mobilenet_v2 import make_divisible
from kinetix.models.pretrained import _canonical, read_state_dict
from kinetix.models.resnet_tsm import TemporalShift
from kinetix.registry import MODELS

_KEY = "model.backbone"

# mmpretrain's arch_zoo: blocks per stage, width factor per stage (of 64/128/256/512),
# conv branches per block, and how many of each stage's last blocks carry an SE layer.
ARCHS: dict[str, dict[str, list]] = {
    "s0": dict(num_blocks=[2, 8, 10, 1], width_factor=[0.75, 1.0, 1.0, 2.0],
               num_conv_branches=[4, 4, 4, 4], num_se_blocks=[0, 0, 0, 0]),
    "s1": dict(num_blocks=[2, 8, 10, 1], width_factor=[1.5, 1.5, 2.0, 2.5],
               num_conv_branches=[1, 1, 1, 1], num_se_blocks=[0, 0, 0, 0]),
    "s2": dict(num_blocks=[2, 8, 10, 1], width_factor=[1.5, 2.0, 2.5, 4.0],
               num_conv_branches=[1, 1, 1, 1], num_se_blocks=[0, 0, 0, 0]),
    "s3": dict(num_blocks=[2, 8, 10, 1], width_factor=[2.0, 2.5, 3.0, 4.0],
               num_conv_branches=[1, 1, 1, 1], num_se_blocks=[0, 0, 0, 0]),
    "s4": dict(num_blocks=[2, 8, 10, 1], width_factor=[3.0, 3.5, 3.5, 4.0],
               num_conv_branches=[1, 1, 1, 1], num_se_blocks=[0, 0, 5, 1]),
}
BASE_CHANNELS = (64, 128, 256, 512)


class SELayer(nn.Module):
    """Squeeze-and-excitation: global average, 1x1 down (ReLU), 1x1 up (Sigmoid), rescale."""

    def __init__(self, channels: int, ratio: int = 16, divisor: int = 8,
                 squeeze_channels: int | None = None) -> None:
        super().__init__()
        squeeze = squeeze_channels or make_divisible(channels // ratio, divisor)
        self.conv1 = ConvModule(channels, squeeze, 1, bias=True, act_cfg=dict(type="ReLU"))
        self.conv2 = ConvModule(squeeze, channels, 1, bias=True, act_cfg=dict(type="Sigmoid"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv2(self.conv1(F.adaptive_avg_pool2d(x, 1)))


def _fuse_conv_bn(kernel: torch.Tensor, state: dict, norm: str, eps: float) -> tuple:
    """A conv followed by an eval-mode BN, as one conv: (weight, bias)."""
    std = (state[f"{norm}.running_var"] + eps).sqrt()
    gamma = state.get(f"{norm}.weight")
    gamma = torch.ones_like(std) if gamma is None else gamma
    beta = state.get(f"{norm}.bias")
    beta = torch.zeros_like(std) if beta is None else beta
    return (gamma / std).reshape(-1, 1, 1, 1) * kernel, beta - state[f"{norm}.running_mean"] * gamma / std


class MobileOneBlock(nn.Module):
    """Branches summed, then SE and the activation; see the module docstring."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, num_convs: int,
                 stride: int = 1, padding: int = 1, dilation: int = 1, groups: int = 1,
                 se_cfg: dict | None = None, conv_cfg: dict | None = None,
                 norm_cfg: dict = dict(type="BN"), act_cfg: dict = dict(type="ReLU"),
                 deploy: bool = False) -> None:
        super().__init__()
        # Registered first: mmpretrain's state dicts list a block's SE tensors before its branches.
        self.se = SELayer(out_channels, **se_cfg) if se_cfg is not None else nn.Identity()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.num_conv_branches = kernel_size, num_convs
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups
        self.conv_cfg, self.norm_cfg = conv_cfg, norm_cfg
        self.eps = float(dict(norm_cfg).get("eps", 1e-5))
        self.deploy = deploy
        if deploy:
            self.branch_reparam = self._conv(kernel_size, padding, dilation, bias=True)
        else:
            self.branch_norm = build_norm_layer(norm_cfg, in_channels)[1] \
                if in_channels == out_channels and stride == 1 else None
            self.branch_scale = self._conv_bn(1, 0, 1) if kernel_size > 1 else None
            self.branch_conv_list = nn.ModuleList(
                self._conv_bn(kernel_size, padding, dilation) for _ in range(num_convs))
        self.act = build_activation_layer(act_cfg)

    def _conv(self, kernel_size: int, padding: int, dilation: int, bias: bool) -> nn.Module:
        return build_conv_layer(self.conv_cfg, self.in_channels, self.out_channels, kernel_size,
                                stride=self.stride, padding=padding, dilation=dilation,
                                groups=self.groups, bias=bias)

    def _conv_bn(self, kernel_size: int, padding: int, dilation: int) -> nn.Sequential:
        branch = nn.Sequential()
        branch.add_module("conv", self._conv(kernel_size, padding, dilation, bias=False))
        branch.add_module("norm", build_norm_layer(self.norm_cfg, self.out_channels)[1])
        return branch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            out = self.branch_reparam(x)
        else:
            # mmpretrain's order of addition (identity, scale, convs): the same rounding.
            out = 0
            if self.branch_norm is not None:
                out = self.branch_norm(x)
            if self.branch_scale is not None:
                out = out + self.branch_scale(x)
            for branch in self.branch_conv_list:
                out = out + branch(x)
        return self.act(self.se(out))

    def fused(self, state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The single conv's (weight, bias) from a training-form block state dict."""
        convs = sorted({k.split(".")[1] for k in state if k.startswith("branch_conv_list.")}, key=int)
        weight = bias = 0
        for i in convs:
            w, b = _fuse_conv_bn(state[f"branch_conv_list.{i}.conv.weight"], state,
                                 f"branch_conv_list.{i}.norm", self.eps)
            weight, bias = weight + w, bias + b
        if "branch_scale.conv.weight" in state:
            w, b = _fuse_conv_bn(state["branch_scale.conv.weight"], state, "branch_scale.norm", self.eps)
            pad = self.kernel_size // 2   # the 1x1 kernel at the centre of the k x k one
            weight, bias = weight + F.pad(w, [pad, pad, pad, pad]), bias + b
        if "branch_norm.running_var" in state:
            # The identity as a (grouped) k x k conv: 1 at the centre, input channel i -> i.
            per_group = self.in_channels // self.groups
            ref = state["branch_norm.running_var"]
            eye = torch.zeros((self.in_channels, per_group, self.kernel_size, self.kernel_size),
                              dtype=ref.dtype, device=ref.device)
            centre = self.kernel_size // 2
            channels = torch.arange(self.in_channels)
            eye[channels, channels % per_group, centre, centre] = 1
            w, b = _fuse_conv_bn(eye, state, "branch_norm", self.eps)
            weight, bias = weight + w, bias + b
        return weight, bias

    @torch.no_grad()
    def switch_to_deploy(self) -> None:
        """Replace the branches by the one conv they add up to (eval-mode BN statistics)."""
        if self.deploy:
            return
        branches = [self.branch_scale, *self.branch_conv_list]
        norms = [self.branch_norm] + [b.norm for b in branches if b is not None]
        if not all(is_norm(m) and m.running_var is not None for m in norms if m is not None):
            raise ConfigError(f"{_KEY}.norm_cfg: switch_to_deploy needs batch norms with running "
                              f"statistics, got {self.norm_cfg!r}")
        weight, bias = self.fused({k: v.detach() for k, v in self.state_dict().items()})
        conv = self._conv(self.kernel_size, self.padding, self.dilation, bias=True)
        conv.to(device=weight.device, dtype=weight.dtype)
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
        del self.branch_conv_list, self.branch_scale, self.branch_norm
        self.branch_reparam = conv
        self.deploy = True

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        # A training-form state dict loads into the deploy form by fusing it on the way in
        # (torch loads the children, branch_reparam among them, after this runs).
        names = [k for k in state_dict if k.startswith(prefix) and
                 k[len(prefix):].split(".")[0] in ("branch_conv_list", "branch_scale", "branch_norm")]
        if self.deploy and names and f"{prefix}branch_reparam.weight" not in state_dict:
            weight, bias = self.fused({k[len(prefix):]: state_dict.pop(k) for k in names})
            state_dict[f"{prefix}branch_reparam.weight"] = weight
            state_dict[f"{prefix}branch_reparam.bias"] = bias
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _arch(arch: str | dict) -> dict[str, list]:
    if isinstance(arch, str):
        if arch not in ARCHS:
            raise ConfigError(f"{_KEY}.arch: unknown MobileOne arch {arch!r}; known: {', '.join(ARCHS)}")
        return ARCHS[arch]
    if set(arch) != set(ARCHS["s0"]):
        raise ConfigError(f"{_KEY}.arch: a dict arch needs exactly the keys "
                          f"{sorted(ARCHS['s0'])}, got {sorted(arch)}")
    for key, value in arch.items():
        if not isinstance(value, (list, tuple)) or len(value) != 4:
            raise ConfigError(f"{_KEY}.arch.{key}: expected a list of 4 (one per stage), got {value!r}")
    if any(se > blocks for se, blocks in zip(arch["num_se_blocks"], arch["num_blocks"])):
        raise ConfigError(f"{_KEY}.arch.num_se_blocks: {arch['num_se_blocks']} exceeds the blocks "
                          f"of a stage ({arch['num_blocks']})")
    return {k: list(v) for k, v in arch.items()}


def _checkpoint(init_cfg: dict | list | None) -> tuple[str, str | None] | None:
    """(checkpoint, prefix) of an ``init_cfg=dict(type='Pretrained', ...)``, else None."""
    for item in init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]:
        if isinstance(item, dict) and item.get("type") == "Pretrained":
            if not isinstance(item.get("checkpoint"), str):
                raise ConfigError(f"{_KEY}.init_cfg.checkpoint: expected a path or URL, "
                                  f"got {item.get('checkpoint')!r}")
            return item["checkpoint"], item.get("prefix")
    return None


@MODELS.register(aliases=["mmpretrain.MobileOne"])
class MobileOne(nn.Module):
    """mmpretrain's MobileOne for frames: ``(N, 3, H, W)`` -> the ``out_indices`` stage maps
    (one tensor when one index, as the recognizers expect; mmpretrain returns a 1-tuple)."""

    arch_zoo = ARCHS

    def __init__(self, arch: str | dict, in_channels: int = 3,
                 out_indices: int | Sequence[int] = (3,), frozen_stages: int = -1,
                 conv_cfg: dict | None = None, norm_cfg: dict = dict(type="BN"),
                 act_cfg: dict = dict(type="ReLU"), se_cfg: dict = dict(ratio=16),
                 deploy: bool = False, norm_eval: bool = False,
                 init_cfg: dict | list | None = None) -> None:
        super().__init__()
        self.arch = _arch(arch)
        indices = [out_indices] if isinstance(out_indices, int) else list(out_indices)
        if not indices or any(i not in range(-4, 4) for i in indices):
            raise ConfigError(f"{_KEY}.out_indices: {out_indices} must name stages 0..3 (or -4..-1)")
        if frozen_stages not in range(-1, 5):
            raise ConfigError(f"{_KEY}.frozen_stages: {frozen_stages} is not in -1..4")
        self.out_indices = [i % 4 for i in indices]
        self.in_channels, self.frozen_stages, self.norm_eval = in_channels, frozen_stages, norm_eval
        self.conv_cfg, self.norm_cfg, self.act_cfg, self.se_cfg = conv_cfg, norm_cfg, act_cfg, se_cfg
        self.deploy, self.init_cfg = deploy, init_cfg
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, deploy=deploy)

        channels = min(64, int(BASE_CHANNELS[0] * self.arch["width_factor"][0]))
        self.stage0 = MobileOneBlock(in_channels, channels, 3, 1, stride=2, **common)
        self.stages: list[str] = []
        for i, blocks in enumerate(self.arch["num_blocks"]):
            planes = int(BASE_CHANNELS[i] * self.arch["width_factor"][i])
            branches, first_se = self.arch["num_conv_branches"][i], blocks - self.arch["num_se_blocks"][i]
            layers = []
            for j in range(blocks):
                se = se_cfg if j >= first_se else None
                # depthwise 3x3 (the stage's stride in its first block), then pointwise 1x1
                layers.append(MobileOneBlock(channels, channels, 3, branches, stride=2 if j == 0 else 1,
                                             padding=1, groups=channels, se_cfg=se, **common))
                layers.append(MobileOneBlock(channels, planes, 1, branches, padding=0, se_cfg=se,
                                             **common))
                channels = planes
            self.add_module(f"stage{i + 1}", nn.Sequential(*layers))
            self.stages.append(f"stage{i + 1}")
        self.feat_dim = channels
        # mmpretrain's default init_cfg: Kaiming (fan_out) convs, unit batch norms.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                kaiming_init(m)
            elif is_norm(m):
                constant_init(m, 1.0)
        self._freeze_stages()

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        x = self.stage0(x)
        return run_stages(self, x, self.stages, self.out_indices)

    def switch_to_deploy(self) -> None:
        """Fuse every block's branches (see :class:`MobileOneBlock`); outputs stay the same
        in eval mode, and the state dict takes the deploy config's names."""
        for m in self.modules():
            if isinstance(m, MobileOneBlock):
                m.switch_to_deploy()
        self.deploy = True

    def init_weights(self) -> None:
        """Load ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone')`` if set:
        an mmpretrain MobileOne checkpoint (a deploy-form model fuses a training-form one)."""
        source = _checkpoint(self.init_cfg)
        if source is not None:
            self._load_2d(*source)

    def _load_2d(self, checkpoint: str, prefix: str | None) -> None:
        key = f"{_KEY}.init_cfg.checkpoint"
        state = read_state_dict(checkpoint, key)   # drops a leading 'backbone.' already
        if prefix not in (None, "", "backbone"):
            state = {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}
        # Block names without the shift wrappers ('stage1.0' for 'stage1.0.net'); a head's
        # tensors in the file belong to no block and are left out.
        blocks = {_canonical(n): n for n, m in self.named_modules() if isinstance(m, MobileOneBlock)}
        mapped = {}
        for name, value in state.items():
            parts = _canonical(name).split(".")
            for n in (1, 2):
                block = ".".join(parts[:n])
                if block in blocks and len(parts) > n:
                    mapped[f"{blocks[block]}.{'.'.join(parts[n:])}"] = value
                    break
        try:
            result = self.load_state_dict(mapped, strict=False)
        except RuntimeError as exc:
            detail = " ".join(str(exc).split("\n\t")[1:2]) or str(exc)
            raise CheckpointError(f"{key}: {checkpoint!r} does not fit this MobileOne: {detail}") from None
        if result.missing_keys:
            raise CheckpointError(f"{key}: {checkpoint!r} lacks {len(result.missing_keys)} of this "
                                  f"backbone's tensors, e.g. {result.missing_keys[0]!r}")
        if result.unexpected_keys:
            raise CheckpointError(f"{key}: {checkpoint!r} has tensors this backbone lacks, e.g. "
                                  f"{result.unexpected_keys[0]!r} (a deploy-form checkpoint "
                                  f"needs deploy=True)")

    def _freeze_stages(self) -> None:
        freeze(([self.stage0] if self.frozen_stages >= 0 else []) +
               [getattr(self, name) for name in self.stages[:max(self.frozen_stages, 0)]])

    def train(self, mode: bool = True) -> "MobileOne":
        super().train(mode)
        self._freeze_stages()
        keep_norm_statistics(self, mode, self.norm_eval)
        return self


@MODELS.register
class MobileOneTSM(MobileOne):
    """MobileOne with a temporal shift in front of every block (``stage0`` and each block of
    ``stage1..4``, depthwise and pointwise alike: a shift outside the block leaves its branches
    fusable). Parameter names gain ``.net``, as in MMAction2: ``stage1.0.net.branch_...``."""

    def __init__(self, arch: str | dict, num_segments: int = 8, is_shift: bool = True,
                 shift_div: int = 8, pretrained2d: bool = True, in_channels: int = 3,
                 out_indices: int | Sequence[int] = (3,), frozen_stages: int = -1,
                 conv_cfg: dict | None = None, norm_cfg: dict = dict(type="BN"),
                 act_cfg: dict = dict(type="ReLU"), se_cfg: dict = dict(ratio=16),
                 deploy: bool = False, norm_eval: bool = False,
                 init_cfg: dict | list | None = None) -> None:
        super().__init__(arch, in_channels=in_channels, out_indices=out_indices,
                         frozen_stages=frozen_stages, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                         act_cfg=act_cfg, se_cfg=se_cfg, deploy=deploy, norm_eval=norm_eval,
                         init_cfg=init_cfg)
        self.num_segments, self.is_shift, self.shift_div = num_segments, is_shift, shift_div
        self.pretrained2d = pretrained2d
        if is_shift:
            self.stage0 = TemporalShift(self.stage0, num_segments, shift_div)
            for name in self.stages:
                blocks = [TemporalShift(b, num_segments, shift_div) for b in getattr(self, name)]
                setattr(self, name, nn.Sequential(*blocks))

    def init_weights(self) -> None:
        """With ``pretrained2d`` (the default), load the 2D MobileOne checkpoint that
        ``init_cfg`` names (MMAction2 asserts one is given); else as MobileOne."""
        source = _checkpoint(self.init_cfg)
        if self.pretrained2d and source is None:
            raise ConfigError(f"{_KEY}.init_cfg: pretrained2d=True needs init_cfg=dict(type="
                              f"'Pretrained', checkpoint=...); set pretrained2d=False to train "
                              f"from scratch")
        if source is not None:
            self._load_2d(*source)
