"""Video Swin Transformer: self-attention inside 3D windows that shift every other block.

"Video Swin Transformer" (https://arxiv.org/abs/2106.13230). A clip is cut into
``patch_size`` patches (a strided Conv3d), then four stages of blocks attend within
``window_size`` windows of tokens; odd blocks roll the map by half a window first so that
information crosses window borders, with a mask keeping the wrapped-around tokens apart.
Each attention adds a learnt bias per relative (t, y, x) offset. Between stages,
:class:`PatchMerging` halves height and width and doubles the channels.

Module and parameter names follow MMAction2's, so its checkpoints load with ``strict=True``;
attention runs through ``scaled_dot_product_attention`` with the bias and the shift mask
added into one ``attn_mask``. :func:`inflate_swin2d_state_dict` maps an ImageNet (2D) Swin
checkpoint onto the 3D model, as MMAction2's ``inflate_weights``.
"""

from __future__ import annotations

import functools
import warnings
from typing import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import checkpoint as cp

from kinetix.errors import ConfigError
from kinetix.models.layers import (DropPath, build_activation_layer, build_conv_layer,
                                   build_norm_layer)
from kinetix.models.pretrained import load_matching_weights, pretrained_path, read_state_dict
from kinetix.registry import MODELS

Triple = tuple[int, int, int]
# What MMAction2 adds to the logits of token pairs from different regions of a shifted
# window (not -inf: a finite value keeps its outputs, and ours, the same to the bit).
_MASKED = -100.0


def _triple(value: int | Sequence[int], key: str) -> Triple:
    if isinstance(value, int):
        return (value, value, value)
    if len(value) != 3:
        raise ConfigError(f"{key}: expected 3 sizes (t, h, w), got {value!r}")
    return tuple(int(v) for v in value)  # type: ignore[return-value]


def window_partition(x: torch.Tensor, window_size: Sequence[int]) -> torch.Tensor:
    """``(B, D, H, W, C)`` -> ``(B * windows, wd * wh * ww, C)``, windows batch-major."""
    b, d, h, w, c = x.shape
    wd, wh, ww = window_size
    x = x.view(b, d // wd, wd, h // wh, wh, w // ww, ww, c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, wd * wh * ww, c)


def window_reverse(windows: torch.Tensor, window_size: Sequence[int], b: int, d: int, h: int,
                   w: int) -> torch.Tensor:
    """The inverse of :func:`window_partition`: back to ``(B, D, H, W, C)``."""
    wd, wh, ww = window_size
    x = windows.view(b, d // wd, h // wh, w // ww, wd, wh, ww, -1)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(b, d, h, w, -1)


def get_window_size(x_size: Sequence[int], window_size: Sequence[int],
                    shift_size: Sequence[int]) -> tuple[Triple, Triple]:
    """A map no larger than the window along an axis is one window there, and not shifted."""
    win, shift = list(window_size), list(shift_size)
    for i, size in enumerate(x_size):
        if size <= window_size[i]:
            win[i], shift[i] = size, 0
    return tuple(win), tuple(shift)  # type: ignore[return-value]


@functools.lru_cache(maxsize=32)
def compute_mask(d: int, h: int, w: int, window_size: Triple, shift_size: Triple,
                 device: torch.device) -> torch.Tensor:
    """``(windows, N, N)``: 0 for token pairs from the same region of the rolled map, -100
    for pairs the roll brought together from opposite borders. Cached: one per stage shape."""
    regions = torch.zeros((1, d, h, w, 1), device=device)
    cuts = [(slice(-win), slice(-win, -shift), slice(-shift, None))
            for win, shift in zip(window_size, shift_size)]
    label = 0
    for sd in cuts[0]:
        for sh in cuts[1]:
            for sw in cuts[2]:
                regions[:, sd, sh, sw, :] = label
                label += 1
    ids = window_partition(regions, window_size).squeeze(-1)
    diff = ids.unsqueeze(1) - ids.unsqueeze(2)
    return torch.zeros_like(diff).masked_fill(diff != 0, _MASKED)


def relative_position_index(window_size: Triple) -> torch.Tensor:
    """``(N, N)``: the row of the bias table for each pair of a window's N tokens."""
    wd, wh, ww = window_size
    grids = torch.meshgrid(torch.arange(wd), torch.arange(wh), torch.arange(ww), indexing="ij")
    coords = torch.stack(grids).flatten(1)                  # 3, N
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # N, N, 3
    rel = rel + torch.tensor([wd - 1, wh - 1, ww - 1])       # offsets from 0
    strides = torch.tensor([(2 * wh - 1) * (2 * ww - 1), 2 * ww - 1, 1])
    return (rel * strides).sum(-1)


class WindowAttention3D(nn.Module):
    """Multi-head self-attention within windows, with a relative position bias."""

    def __init__(self, embed_dims: int, window_size: Sequence[int], num_heads: int,
                 qkv_bias: bool = True, qk_scale: float | None = None, attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.window_size = _triple(window_size, "model.backbone.window_size")
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        wd, wh, ww = self.window_size
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wd - 1) * (2 * wh - 1) * (2 * ww - 1), num_heads))
        # Persistent: MMAction2's checkpoints hold it.
        self.register_buffer("relative_position_index", relative_position_index(self.window_size))
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.attn_drop = float(attn_drop)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``x``: ``(B * windows, N, C)``; ``mask``: ``(windows, N, N)`` for shifted windows."""
        bw, n, c = x.shape
        heads = self.num_heads
        q, k, v = self.qkv(x).view(bw, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4).unbind(0)
        # A window smaller than configured (a short clip) uses the table's first N x N
        # entries, as MMAction2 does.
        index = self.relative_position_index[:n, :n].reshape(-1)
        bias = self.relative_position_bias_table[index].view(n, n, heads).permute(2, 0, 1)
        if mask is None:
            attn_mask = bias.unsqueeze(0)
        else:
            # Windows and heads as one axis: the (window, head) bias then broadcasts over the
            # batch in 4-D, which the fused attention kernels take without a copy per sample.
            windows = mask.shape[0]
            q, k, v = (t.reshape(bw // windows, windows * heads, n, -1) for t in (q, k, v))
            attn_mask = (bias.unsqueeze(0) + mask.unsqueeze(1)).reshape(1, windows * heads, n, n)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask.to(q.dtype),
            dropout_p=self.attn_drop if self.training else 0.0, scale=self.scale)
        out = out.reshape(bw, heads, n, -1).transpose(1, 2).reshape(bw, n, c)
        return self.proj_drop(self.proj(out))


class Mlp(nn.Module):
    def __init__(self, in_features: int, hidden_features: int | None = None,
                 out_features: int | None = None, act_cfg: dict = dict(type="GELU"),
                 drop: float = 0.0) -> None:
        super().__init__()
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Linear(hidden_features, out_features or in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class SwinTransformerBlock3D(nn.Module):
    """Pre-norm (shifted-)window attention and MLP, each a residual branch with drop path."""

    def __init__(self, embed_dims: int, num_heads: int, window_size: Sequence[int] = (8, 7, 7),
                 shift_size: Sequence[int] = (0, 0, 0), mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, qk_scale: float | None = None, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_path: float = 0.1,
                 act_cfg: dict = dict(type="GELU"), norm_cfg: dict = dict(type="LN"),
                 with_cp: bool = False) -> None:
        super().__init__()
        self.embed_dims, self.num_heads, self.mlp_ratio = embed_dims, num_heads, mlp_ratio
        self.window_size = _triple(window_size, "model.backbone.window_size")
        self.shift_size = _triple(shift_size, "model.backbone.shift_size")
        self.with_cp = with_cp
        for axis, (shift, win) in enumerate(zip(self.shift_size, self.window_size)):
            if not 0 <= shift < win:
                raise ConfigError(f"model.backbone: shift_size[{axis}]={shift} must lie in "
                                  f"[0, window_size[{axis}]={win})")
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = WindowAttention3D(embed_dims, self.window_size, num_heads, qkv_bias, qk_scale,
                                      attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio), act_cfg=act_cfg, drop=drop)

    def forward_part1(self, x: torch.Tensor, mask_matrix: torch.Tensor | None) -> torch.Tensor:
        b, d, h, w, c = x.shape
        win, shift = get_window_size((d, h, w), self.window_size, self.shift_size)
        x = self.norm1(x)
        # Pad at the far ends to whole windows (after the norm, as MMAction2: pads stay 0).
        pads = [(-size) % s for size, s in zip((d, h, w), win)]
        x = F.pad(x, (0, 0, 0, pads[2], 0, pads[1], 0, pads[0]))
        _, dp, hp, wp, _ = x.shape
        shifted = any(s > 0 for s in shift)
        if shifted:
            x = torch.roll(x, shifts=tuple(-s for s in shift), dims=(1, 2, 3))
        windows = self.attn(window_partition(x, win), mask=mask_matrix if shifted else None)
        x = window_reverse(windows.view(-1, *win, c), win, b, dp, hp, wp)
        if shifted:
            x = torch.roll(x, shifts=shift, dims=(1, 2, 3))
        if any(pads):
            x = x[:, :d, :h, :w, :].contiguous()
        return x

    def forward_part2(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop_path(self.mlp(self.norm2(x)))

    def forward(self, x: torch.Tensor, mask_matrix: torch.Tensor | None) -> torch.Tensor:
        """``x``: ``(B, D, H, W, C)``; ``mask_matrix``: the stage's shift mask."""
        checkpointed = self.with_cp and x.requires_grad
        if checkpointed:
            attn = cp.checkpoint(self.forward_part1, x, mask_matrix, use_reentrant=False)
        else:
            attn = self.forward_part1(x, mask_matrix)
        x = x + self.drop_path(attn)
        if checkpointed:
            return x + cp.checkpoint(self.forward_part2, x, use_reentrant=False)
        return x + self.forward_part2(x)


class PatchMerging(nn.Module):
    """Each 2x2 patch of tokens (in space) concatenated, normalised, and projected to 2C."""

    def __init__(self, embed_dims: int, norm_cfg: dict = dict(type="LN")) -> None:
        super().__init__()
        self.embed_dims = embed_dims
        self.mid_embed_dims, self.out_embed_dims = 4 * embed_dims, 2 * embed_dims
        self.reduction = nn.Linear(self.mid_embed_dims, self.out_embed_dims, bias=False)
        self.norm = build_norm_layer(norm_cfg, self.mid_embed_dims)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, D, H, W, C)`` -> ``(B, D, ceil(H/2), ceil(W/2), 2C)``."""
        h, w = x.shape[2], x.shape[3]
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        # The order (even/odd rows, then columns) is the one the checkpoints learnt.
        x = torch.cat([x[:, :, 0::2, 0::2], x[:, :, 1::2, 0::2], x[:, :, 0::2, 1::2],
                       x[:, :, 1::2, 1::2]], dim=-1)
        return self.reduction(self.norm(x))


class BasicLayer(nn.Module):
    """One stage: ``depth`` blocks, shifted every other one, then (optionally) a merge."""

    def __init__(self, embed_dims: int, depth: int, num_heads: int,
                 window_size: Sequence[int] = (8, 7, 7), mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, qk_scale: float | None = None, drop: float = 0.0,
                 attn_drop: float = 0.0, drop_paths: float | Sequence[float] = 0.0,
                 act_cfg: dict = dict(type="GELU"), norm_cfg: dict = dict(type="LN"),
                 downsample: bool = False, with_cp: bool = False) -> None:
        super().__init__()
        self.embed_dims, self.depth, self.with_cp = embed_dims, depth, with_cp
        self.window_size = _triple(window_size, "model.backbone.window_size")
        self.shift_size = tuple(s // 2 for s in self.window_size)
        if not isinstance(drop_paths, Sequence):
            drop_paths = [drop_paths] * depth
        self.blocks = nn.ModuleList(
            SwinTransformerBlock3D(embed_dims, num_heads, self.window_size,
                                   (0, 0, 0) if i % 2 == 0 else self.shift_size, mlp_ratio,
                                   qkv_bias, qk_scale, drop, attn_drop, drop_paths[i], act_cfg,
                                   norm_cfg, with_cp)
            for i in range(depth))
        self.downsample = PatchMerging(embed_dims, norm_cfg) if downsample else None

    @property
    def out_embed_dims(self) -> int:
        return self.downsample.out_embed_dims if self.downsample is not None else self.embed_dims

    def forward(self, x: torch.Tensor, do_downsample: bool = True) -> torch.Tensor:
        """``(B, C, D, H, W)`` in, channels last ``(B, D, H, W, C')`` out."""
        d, h, w = x.shape[2:]
        win, shift = get_window_size((d, h, w), self.window_size, self.shift_size)
        x = x.permute(0, 2, 3, 4, 1)
        mask = None
        if any(s > 0 for s in shift):
            padded = [-(-size // s) * s for size, s in zip((d, h, w), win)]
            mask = compute_mask(*padded, win, shift, x.device)
        for block in self.blocks:
            x = block(x, mask)
        if self.downsample is not None and do_downsample:
            x = self.downsample(x)
        return x


class PatchEmbed3D(nn.Module):
    """Non-overlapping ``patch_size`` patches (the clip padded to whole patches) -> tokens."""

    def __init__(self, patch_size: int | Sequence[int] = (2, 4, 4), in_channels: int = 3,
                 embed_dims: int = 96, norm_cfg: dict | None = None,
                 conv_cfg: dict = dict(type="Conv3d")) -> None:
        super().__init__()
        self.patch_size = _triple(patch_size, "model.backbone.patch_size")
        self.in_channels, self.embed_dims = in_channels, embed_dims
        self.proj = build_conv_layer(conv_cfg, in_channels, embed_dims,
                                     kernel_size=self.patch_size, stride=self.patch_size)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1] if norm_cfg is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = [(-size) % p for size, p in zip(x.shape[2:], self.patch_size)]
        if any(pads):
            x = F.pad(x, (0, pads[2], 0, pads[1], 0, pads[0]))
        x = self.proj(x)
        if self.norm is not None:
            x = self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3)
        return x


def inflate_swin2d_state_dict(state_dict: Mapping[str, torch.Tensor],
                              own: Mapping[str, torch.Tensor], patch_size: Sequence[int],
                              window_size: Sequence[int]) -> dict[str, torch.Tensor]:
    """An ImageNet (2D) Swin state dict mapped onto a 3D model whose state dict is ``own``.

    * ``relative_position_index`` and ``attn_mask`` buffers go: the 3D model derives its own;
    * the patch conv is inflated over ``patch_size[0]`` frames and divided by it, so a still
      clip embeds as the image did;
    * each relative position bias table is resized bicubically to the (2h-1) x (2w-1) offsets
      of the 3D window (when the 2D window differed) and repeated for its 2d-1 time offsets;
      a table with another number of heads is dropped, with a warning;
    * the final ``norm`` becomes ``norm3`` (the last stage's output norm), when the model has one.
    """
    pt = int(patch_size[0])
    wd, wh, ww = (int(s) for s in window_size)
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        if "relative_position_index" in key or "attn_mask" in key:
            continue
        if key == "patch_embed.proj.weight" and value.dim() == 4:
            value = value.unsqueeze(2).repeat(1, 1, pt, 1, 1) / pt
        elif "relative_position_bias_table" in key:
            length, heads = value.shape
            target = own.get(key)
            if target is not None and target.shape[1] != heads:
                warnings.warn(f"model.backbone.pretrained: {key} has {heads} heads, the model "
                              f"{target.shape[1]}; not loaded", stacklevel=2)
                continue
            size = (2 * wh - 1, 2 * ww - 1)
            if length != size[0] * size[1]:
                side = int(round(length ** 0.5))
                grid = value.permute(1, 0).reshape(1, heads, side, side)
                value = F.interpolate(grid, size=size, mode="bicubic")
                value = value.reshape(heads, -1).permute(1, 0)
            value = value.repeat(2 * wd - 1, 1)
        elif key in ("norm.weight", "norm.bias") and "norm3.weight" in own:
            key = "norm3." + key.split(".")[1]
        out[key] = value
    return out


@MODELS.register
class SwinTransformer3D(nn.Module):
    """Video Swin backbone: ``arch`` 'tiny'/'small'/'base'/'large' (or 't'/'s'/'b'/'l'), or a
    dict of ``embed_dims``, ``depths`` and ``num_heads``. Returns the normed output of each
    stage in ``out_indices``, ``(B, C, D, H, W)`` (a tuple when several)."""

    arch_zoo = {
        **dict.fromkeys(["t", "tiny"], {"embed_dims": 96, "depths": [2, 2, 6, 2],
                                        "num_heads": [3, 6, 12, 24]}),
        **dict.fromkeys(["s", "small"], {"embed_dims": 96, "depths": [2, 2, 18, 2],
                                         "num_heads": [3, 6, 12, 24]}),
        **dict.fromkeys(["b", "base"], {"embed_dims": 128, "depths": [2, 2, 18, 2],
                                        "num_heads": [4, 8, 16, 32]}),
        **dict.fromkeys(["l", "large"], {"embed_dims": 192, "depths": [2, 2, 18, 2],
                                         "num_heads": [6, 12, 24, 48]}),
    }

    def __init__(self, arch: str | dict, pretrained: str | None = None,
                 pretrained2d: bool = True, patch_size: int | Sequence[int] = (2, 4, 4),
                 in_channels: int = 3, window_size: Sequence[int] = (8, 7, 7),
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, qk_scale: float | None = None,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0, drop_path_rate: float = 0.1,
                 act_cfg: dict = dict(type="GELU"), norm_cfg: dict | None = dict(type="LN"),
                 patch_norm: bool = True, frozen_stages: int = -1, with_cp: bool = False,
                 out_indices: Sequence[int] = (3,), out_after_downsample: bool = False,
                 init_cfg: dict | list | None = None) -> None:
        super().__init__()
        self.pretrained = pretrained_path(pretrained)
        self.pretrained2d = pretrained2d
        self.arch_settings = self._arch(arch)
        self.embed_dims = self.arch_settings["embed_dims"]
        self.depths = list(self.arch_settings["depths"])
        self.num_heads = list(self.arch_settings["num_heads"])
        self.num_layers = len(self.depths)
        if len(self.num_heads) != self.num_layers or not 1 <= self.num_layers <= 4:
            raise ConfigError(f"model.backbone.arch: 1 to 4 stages with one head count each, got "
                              f"depths={self.depths}, num_heads={self.num_heads}")
        self.out_indices = tuple(out_indices)
        if not self.out_indices or max(self.out_indices) >= self.num_layers:
            raise ConfigError(f"model.backbone.out_indices: {list(out_indices)} must name stages "
                              f"below {self.num_layers}")
        self.out_after_downsample = out_after_downsample
        self.frozen_stages = frozen_stages
        self.window_size = _triple(window_size, "model.backbone.window_size")
        self.patch_size = _triple(patch_size, "model.backbone.patch_size")

        self.patch_embed = PatchEmbed3D(self.patch_size, in_channels, self.embed_dims,
                                        norm_cfg if patch_norm else None)
        self.pos_drop = nn.Dropout(p=drop_rate)
        # Stochastic depth grows linearly from 0 at the first block to drop_path_rate at the
        # last (Python floats: the constructor also runs on the meta device).
        total = sum(self.depths)
        rates = [drop_path_rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]
        self.layers = nn.ModuleList()
        dims = [self.embed_dims]
        for i, (depth, heads) in enumerate(zip(self.depths, self.num_heads)):
            layer = BasicLayer(dims[-1], depth, heads, self.window_size, mlp_ratio, qkv_bias,
                               qk_scale, drop_rate, attn_drop_rate, rates[:depth], act_cfg,
                               norm_cfg, downsample=i < self.num_layers - 1, with_cp=with_cp)
            rates = rates[depth:]
            self.layers.append(layer)
            dims.append(layer.out_embed_dims)
        self.num_features = dims[1:] if out_after_downsample else dims[:-1]
        for i in self.out_indices:
            norm = (build_norm_layer(norm_cfg, self.num_features[i])[1] if norm_cfg is not None
                    else nn.Identity())
            self.add_module(f"norm{i}", norm)
        self._init_parameters()
        self._freeze_stages()

    def _arch(self, arch: str | dict) -> dict:
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ConfigError(f"model.backbone.arch: {arch!r} is not one of "
                                  f"{sorted(set(self.arch_zoo))}")
            return self.arch_zoo[arch.lower()]
        keys = {"embed_dims", "depths", "num_heads"}
        if not isinstance(arch, dict) or set(arch) != keys:
            raise ConfigError(f"model.backbone.arch: a custom arch is a dict with exactly the "
                              f"keys {sorted(keys)}, got {arch!r}")
        return dict(arch)

    def _init_parameters(self) -> None:
        # MMAction2's init_cfg: truncated normal (std 0.02) for linears, LayerNorm at 1 / 0.
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _freeze_stages(self) -> None:
        frozen = []
        if self.frozen_stages >= 0:
            frozen.append(self.patch_embed)
        if self.frozen_stages >= 1:
            frozen += [self.pos_drop] + list(self.layers[:self.frozen_stages])
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def init_weights(self) -> None:
        """Apply ``pretrained``: an ImageNet Swin inflated to 3D (``pretrained2d``, MMAction2's
        default) or a 3D backbone checkpoint copied by name."""
        if self.pretrained is None:
            return
        if not self.pretrained2d:
            load_matching_weights(self, self.pretrained)
            return
        own = self.state_dict()
        state = inflate_swin2d_state_dict(read_state_dict(self.pretrained), own,
                                          self.patch_size, self.window_size)
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        self.load_state_dict(usable, strict=False)
        missing = sorted(set(own) - set(usable) - {k for k in own if "relative_position_index" in k})
        ignored = sorted(set(state) - set(usable))
        if missing or ignored:
            warnings.warn(f"model.backbone.pretrained: loaded {len(usable)} tensors from "
                          f"{self.pretrained!r}; not loaded: {', '.join(missing[:5]) or '-'}; "
                          f"unused: {', '.join(ignored[:5]) or '-'}", stacklevel=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        x = self.pos_drop(self.patch_embed(x))
        outs = []
        for i, layer in enumerate(self.layers):
            x = layer(x.contiguous(), do_downsample=self.out_after_downsample)
            if i in self.out_indices:
                out = getattr(self, f"norm{i}")(x)
                outs.append(out.permute(0, 4, 1, 2, 3).contiguous())
            if layer.downsample is not None and not self.out_after_downsample:
                x = layer.downsample(x)
            if i < self.num_layers - 1:
                x = x.permute(0, 4, 1, 2, 3)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def train(self, mode: bool = True) -> "SwinTransformer3D":
        super().train(mode)
        self._freeze_stages()
        return self
