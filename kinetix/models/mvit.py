"""MViT v2 (multiscale vision transformer) and its head, with MMAction2's names and options.

Tokens of a clip ``(T, H, W)`` (after a strided 3D patch embedding, plus a class token) pass
through blocks of *pooling attention*: query, key and value are each pooled by a depthwise
3D conv (q by stride 2 at the first block of a stage, k/v by an adaptive stride that keeps
their spatial size near constant), then normalised. Options of the shipped configs:

* decomposed relative positions (``rel_pos_embed``): one table per axis (t, h, w) and per
  block, whose lookups, summed, are the attention bias; it goes to
  ``scaled_dot_product_attention`` as ``attn_mask`` (zero on the class token's row/column);
* residual pooling (``residual_pooling``): the pooled query is added to the attention output;
* ``dim_mul_in_attention``: a stage's width doubles in the attention of its first block
  (True) or in the MLP of the block before it (False, as MaskFeat's MViT);
* class token in the sequence (``with_cls_token``) and in the output (``output_cls_token``).

State-dict names follow MMAction2 (``patch_embed.projection``, ``blocks.N.attn.pool_q``,
``blocks.N.attn.rel_pos_h``, ``norm3``, ...), so its checkpoints load with strict=True.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from kinetix.errors import ConfigError
from kinetix.models.heads import BaseHead
from kinetix.models.layers import DropPath, build_activation_layer
from kinetix.models.pretrained import read_state_dict
from kinetix.registry import MODELS

_KEY = "model.backbone"


def _triple(value: int | Sequence[int], key: str) -> tuple[int, int, int]:
    if isinstance(value, int):
        return (value, value, value)
    if isinstance(value, (list, tuple)) and len(value) == 3 and \
            all(isinstance(v, int) for v in value):
        return tuple(value)  # type: ignore[return-value]
    raise ConfigError(f"{key}: expected an int or three ints, got {value!r}")


def _layer_norm(norm_cfg: dict, dims: int, key: str) -> nn.LayerNorm:
    """MViT normalises tokens with layer norm only (``norm_cfg=dict(type='LN', eps=...)``)."""
    cfg = dict(norm_cfg)
    if cfg.pop("type", "LN") != "LN":
        raise ConfigError(f"{key}.norm_cfg: MViT supports type='LN' only, got {norm_cfg!r}")
    cfg.pop("requires_grad", None)
    return nn.LayerNorm(dims, **cfg)


def resize_pos_embed(pos_embed: torch.Tensor, src_shape: Sequence[int], dst_shape: Sequence[int],
                     mode: str = "trilinear", num_extra_tokens: int = 1) -> torch.Tensor:
    """An absolute position embedding ``(1, extra + T*H*W, C)`` made for ``src_shape``,
    interpolated to ``dst_shape`` (the extra tokens' rows are kept)."""
    if tuple(src_shape) == tuple(dst_shape):
        return pos_embed
    extra, grid = pos_embed[:, :num_extra_tokens], pos_embed[:, num_extra_tokens:]
    grid = grid.reshape(1, *src_shape, -1).permute(0, 4, 1, 2, 3)
    grid = F.interpolate(grid, size=tuple(dst_shape), mode=mode, align_corners=False)
    return torch.cat((extra, grid.flatten(2).transpose(1, 2)), dim=1)


def rel_pos_lookup(table: torch.Tensor, q_size: int, k_size: int) -> torch.Tensor:
    """``(q_size, k_size, C)``: the row of ``table`` for each (query, key) distance on one axis.

    The table is linearly resized when it was made for another length; when q and k differ in
    size (pooled k/v) the shorter axis' coordinates are stretched to the longer one's scale.
    """
    length = 2 * max(q_size, k_size) - 1
    if table.shape[0] != length:
        table = F.interpolate(table.t().unsqueeze(0), size=length, mode="linear").squeeze(0).t()
    q_ratio, k_ratio = max(k_size / q_size, 1.0), max(q_size / k_size, 1.0)
    q_coords = torch.arange(q_size, device=table.device)[:, None] * q_ratio
    k_coords = torch.arange(k_size, device=table.device)[None, :] * k_ratio
    # Truncation (not rounding) of the float distances, as MMAction2 indexes them.
    return table[(q_coords - k_coords + (k_size - 1) * k_ratio).long()]


def pool_tokens(x: torch.Tensor, pool: nn.Module, size: Sequence[int], with_cls_token: bool,
                norm: nn.Module | None = None) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """Pool ``(B, heads, L, C)`` or ``(B, L, C)`` tokens on their ``size`` = (T, H, W) grid;
    the class token (first) is passed through. Returns the tokens and the new grid size."""
    squeeze = x.dim() == 3
    if squeeze:
        x = x.unsqueeze(1)
    b, heads, _, c = x.shape
    t, h, w = size
    if with_cls_token:
        cls_tok, x = x[:, :, :1], x[:, :, 1:]
    x = x.reshape(b * heads, t, h, w, c).permute(0, 4, 1, 2, 3)
    x = pool(x)
    out_size = tuple(x.shape[2:])
    x = x.reshape(b, heads, c, -1).transpose(2, 3)
    if with_cls_token:
        x = torch.cat((cls_tok, x), dim=2)
    if norm is not None:
        x = norm(x)
    return (x.squeeze(1) if squeeze else x), out_size  # type: ignore[return-value]


class MultiScaleAttention(nn.Module):
    """Pooling attention with decomposed relative positions and residual pooling."""

    def __init__(self, in_dims: int, out_dims: int, num_heads: int, qkv_bias: bool = True,
                 norm_cfg: dict = dict(type="LN"), pool_kernel: Sequence[int] = (3, 3, 3),
                 stride_q: Sequence[int] = (1, 1, 1), stride_kv: Sequence[int] = (1, 1, 1),
                 rel_pos_embed: bool = True, residual_pooling: bool = True,
                 input_size: Sequence[int] | None = None, rel_pos_zero_init: bool = False,
                 with_cls_token: bool = True) -> None:
        super().__init__()
        self.num_heads, self.out_dims = num_heads, out_dims
        self.with_cls_token, self.residual_pooling = with_cls_token, residual_pooling
        head_dim = out_dims // num_heads
        self.qkv = nn.Linear(in_dims, out_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(out_dims, out_dims)
        padding = [k // 2 for k in pool_kernel]

        def pooling(stride: Sequence[int]) -> tuple[nn.Module, nn.Module]:
            conv = nn.Conv3d(head_dim, head_dim, tuple(pool_kernel), stride=tuple(stride),
                             padding=padding, groups=head_dim, bias=False)
            return conv, _layer_norm(norm_cfg, head_dim, "model.backbone")

        self.pool_q, self.norm_q = pooling(stride_q)
        self.pool_k, self.norm_k = pooling(stride_kv)
        self.pool_v, self.norm_v = pooling(stride_kv)
        self.rel_pos_embed = rel_pos_embed
        if rel_pos_embed:
            if input_size is None or input_size[1] != input_size[2]:
                raise ConfigError(f"{_KEY}: relative positions need a square input grid, got "
                                  f"{input_size!r} (spatial_size makes it)")
            size = input_size[1]
            span = 2 * max(size // stride_q[1], size // stride_kv[1]) - 1
            self.rel_pos_h = nn.Parameter(torch.zeros(span, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(span, head_dim))
            self.rel_pos_t = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
            if not rel_pos_zero_init:
                for table in (self.rel_pos_h, self.rel_pos_w, self.rel_pos_t):
                    nn.init.trunc_normal_(table, std=0.02)

    def _rel_pos_bias(self, q: torch.Tensor, q_size: Sequence[int],
                      k_size: Sequence[int]) -> torch.Tensor:
        """The additive attention bias ``(B, heads, Lq, Lk)`` of the relative positions."""
        b, heads, _, c = q.shape
        first = 1 if self.with_cls_token else 0
        grid_q = q[:, :, first:].reshape(b, heads, *q_size, c)
        tables = (self.rel_pos_t, self.rel_pos_h, self.rel_pos_w)
        rt, rh, rw = (rel_pos_lookup(tab, qs, ks) for tab, qs, ks in zip(tables, q_size, k_size))
        bt = torch.einsum("bnthwc,tkc->bnthwk", grid_q, rt)
        bh = torch.einsum("bnthwc,hkc->bnthwk", grid_q, rh)
        bw = torch.einsum("bnthwc,wkc->bnthwk", grid_q, rw)
        bias = (bt[..., :, None, None] + bh[..., None, :, None] + bw[..., None, None, :])
        bias = bias.reshape(b, heads, grid_q.shape[2] * grid_q.shape[3] * grid_q.shape[4], -1)
        # The class token attends, and is attended to, without a positional bias.
        return F.pad(bias, (first, 0, first, 0))

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> tuple[torch.Tensor, tuple]:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        q, q_size = pool_tokens(q, self.pool_q, size, self.with_cls_token, self.norm_q)
        k, k_size = pool_tokens(k, self.pool_k, size, self.with_cls_token, self.norm_k)
        v, _ = pool_tokens(v, self.pool_v, size, self.with_cls_token, self.norm_v)
        bias = self._rel_pos_bias(q, q_size, k_size) if self.rel_pos_embed else None
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        if self.residual_pooling:
            if self.with_cls_token:
                x = torch.cat((x[:, :, :1], x[:, :, 1:] + q[:, :, 1:]), dim=2)
            else:
                x = x + q
        x = x.transpose(1, 2).reshape(b, -1, self.out_dims)
        return self.proj(x), q_size


class MLP(nn.Module):
    """fc1 -> activation -> fc2, with its own output width (a block may widen in its MLP)."""

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int,
                 act_cfg: dict = dict(type="GELU")) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_channels, hidden_channels)
        self.act = build_activation_layer(act_cfg)
        self.fc2 = nn.Linear(hidden_channels, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class MultiScaleBlock(nn.Module):
    """norm -> pooling attention (+ pooled skip) -> norm -> MLP (+ skip)."""

    def __init__(self, in_dims: int, out_dims: int, num_heads: int, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_path: float = 0.0, norm_cfg: dict = dict(type="LN"),
                 act_cfg: dict = dict(type="GELU"), qkv_pool_kernel: Sequence[int] = (3, 3, 3),
                 stride_q: Sequence[int] = (1, 1, 1), stride_kv: Sequence[int] = (1, 1, 1),
                 rel_pos_embed: bool = True, residual_pooling: bool = True,
                 with_cls_token: bool = True, dim_mul_in_attention: bool = True,
                 input_size: Sequence[int] | None = None, rel_pos_zero_init: bool = False) -> None:
        super().__init__()
        self.with_cls_token, self.dim_mul_in_attention = with_cls_token, dim_mul_in_attention
        self.norm1 = _layer_norm(norm_cfg, in_dims, _KEY)
        attn_dims = out_dims if dim_mul_in_attention else in_dims
        self.attn = MultiScaleAttention(
            in_dims, attn_dims, num_heads, qkv_bias=qkv_bias, norm_cfg=norm_cfg,
            pool_kernel=qkv_pool_kernel, stride_q=stride_q, stride_kv=stride_kv,
            rel_pos_embed=rel_pos_embed, residual_pooling=residual_pooling, input_size=input_size,
            rel_pos_zero_init=rel_pos_zero_init, with_cls_token=with_cls_token)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = _layer_norm(norm_cfg, attn_dims, _KEY)
        self.mlp = MLP(attn_dims, int(attn_dims * mlp_ratio), out_dims, act_cfg)
        self.proj = nn.Linear(in_dims, out_dims) if in_dims != out_dims else None
        self.init_out_size = tuple(input_size) if input_size is not None else None
        if any(s > 1 for s in stride_q):
            kernel = [s + 1 if s > 1 else s for s in stride_q]
            self.pool_skip = nn.MaxPool3d(kernel, tuple(stride_q), [k // 2 for k in kernel])
            if input_size is not None:
                self.init_out_size = tuple(s // st for s, st in zip(input_size, stride_q))
        else:
            self.pool_skip = None

    def forward(self, x: torch.Tensor, size: Sequence[int]) -> tuple[torch.Tensor, tuple]:
        x_norm = self.norm1(x)
        x_attn, out_size = self.attn(x_norm, size)
        skip = self.proj(x_norm) if self.dim_mul_in_attention and self.proj is not None else x
        if self.pool_skip is not None:
            skip, _ = pool_tokens(skip, self.pool_skip, size, self.with_cls_token)
        x = skip + self.drop_path(x_attn)
        x_norm = self.norm2(x)
        skip = self.proj(x_norm) if not self.dim_mul_in_attention and self.proj is not None else x
        return skip + self.drop_path(self.mlp(x_norm)), out_size


class PatchEmbed3D(nn.Module):
    """A strided 3D conv (``projection``) turning a clip into ``(B, T*H*W, C)`` tokens."""

    def __init__(self, in_channels: int = 3, embed_dims: int = 768,
                 kernel_size: int | Sequence[int] = (3, 7, 7),
                 stride: int | Sequence[int] | None = (2, 4, 4),
                 padding: int | Sequence[int] = (1, 3, 3), dilation: int | Sequence[int] = 1,
                 bias: bool = True, conv_type: str = "Conv3d", norm_cfg: dict | None = None,
                 input_size: Sequence[int] | None = None) -> None:
        super().__init__()
        key = f"{_KEY}.patch_cfg"
        if conv_type != "Conv3d":
            raise ConfigError(f"{key}.conv_type: MViT embeds patches with 'Conv3d', "
                              f"got {conv_type!r}")
        if isinstance(padding, str):
            raise ConfigError(f"{key}.padding: adaptive padding {padding!r} is not supported; "
                              f"give the padding as ints")
        kernel = _triple(kernel_size, f"{key}.kernel_size")
        stride = kernel if stride is None else _triple(stride, f"{key}.stride")
        pad, dil = _triple(padding, f"{key}.padding"), _triple(dilation, f"{key}.dilation")
        self.projection = nn.Conv3d(in_channels, embed_dims, kernel, stride, pad, dil, bias=bias)
        self.norm = _layer_norm(norm_cfg, embed_dims, key) if norm_cfg is not None else None
        self.init_out_size = None
        if input_size is not None:
            self.init_out_size = tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s
                                       in zip(input_size, pad, dil, kernel, stride))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        x = self.projection(x)
        size = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2)
        if self.norm is not None:
            x = self.norm(x)
        return x, size  # type: ignore[return-value]


def interpolate_rel_pos(state: dict[str, torch.Tensor],
                        own_shapes: dict[str, Sequence[int]]) -> dict[str, torch.Tensor]:
    """A checkpoint's relative-position tables (``*attn.rel_pos_{h,w,t}``) linearly resized to
    the lengths of the model's (``own_shapes``: name -> shape), as MMAction2 loads MaskFeat
    weights pretrained at another input size. A table whose width differs is dropped, with a
    warning; every other tensor is passed through unchanged."""
    out = dict(state)
    for name, table in state.items():
        if "attn.rel_pos" not in name or name not in own_shapes:
            continue
        length, width = tuple(own_shapes[name])
        if table.shape[1] != width:
            warnings.warn(f"{_KEY}.pretrained: {name} has width {table.shape[1]}, the model "
                          f"{width}; not loaded", stacklevel=2)
            del out[name]
        elif table.shape[0] != length:
            out[name] = F.interpolate(table.t().unsqueeze(0).float(), size=length,
                                      mode="linear").squeeze(0).t().to(table.dtype)
    return out


@MODELS.register
class MViT(nn.Module):
    """MViT v2 backbone; returns one ``[patch_tokens (B, C, T, H, W), cls_token (B, C)]`` per
    output scale (or the patch tokens alone with ``output_cls_token=False``)."""

    arch_zoo = {
        "tiny": {"embed_dims": 96, "num_layers": 10, "num_heads": 1,
                 "downscale_indices": [1, 3, 8]},
        "small": {"embed_dims": 96, "num_layers": 16, "num_heads": 1,
                  "downscale_indices": [1, 3, 14]},
        "base": {"embed_dims": 96, "num_layers": 24, "num_heads": 1,
                 "downscale_indices": [2, 5, 21]},
        "large": {"embed_dims": 144, "num_layers": 48, "num_heads": 2,
                  "downscale_indices": [2, 8, 44]},
    }
    num_extra_tokens = 1

    def __init__(self, arch: str | dict = "base", spatial_size: int = 224, temporal_size: int = 16,
                 in_channels: int = 3, pretrained: str | None = None,
                 pretrained_type: str | None = None, out_scales: int | Sequence[int] = -1,
                 drop_path_rate: float = 0.0, use_abs_pos_embed: bool = False,
                 interpolate_mode: str = "trilinear", pool_kernel: Sequence[int] = (3, 3, 3),
                 dim_mul: int = 2, head_mul: int = 2, adaptive_kv_stride: Sequence[int] = (1, 8, 8),
                 rel_pos_embed: bool = True, residual_pooling: bool = True,
                 dim_mul_in_attention: bool = True, with_cls_token: bool = True,
                 output_cls_token: bool = True, rel_pos_zero_init: bool = False,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 norm_cfg: dict = dict(type="LN", eps=1e-6),
                 patch_cfg: dict = dict(kernel_size=(3, 7, 7), stride=(2, 4, 4), padding=(1, 3, 3)),
                 with_cp: bool = False, init_cfg: dict | list | None = None) -> None:
        super().__init__()
        settings = self._arch(arch)
        if pretrained_type not in (None, "maskfeat"):
            raise ConfigError(f"{_KEY}.pretrained_type: {pretrained_type!r} is not supported; "
                              f"use None (same architecture) or 'maskfeat'")
        if output_cls_token and not with_cls_token:
            raise ConfigError(f"{_KEY}.output_cls_token: needs with_cls_token=True")
        self.pretrained, self.pretrained_type = pretrained, pretrained_type
        self.init_cfg = dict(type="Pretrained", checkpoint=pretrained) if pretrained else init_cfg
        self.embed_dims, self.num_layers = settings["embed_dims"], settings["num_layers"]
        self.num_heads = settings["num_heads"]
        self.downscale_indices = list(settings["downscale_indices"])
        self.dim_mul_indices = list(settings.get("dim_mul_indices", self.downscale_indices))
        self.num_scales = len(self.downscale_indices) + 1
        # block index -> the scale it ends
        self.stage_indices = {index - 1: i for i, index in enumerate(self.downscale_indices)}
        self.stage_indices[self.num_layers - 1] = self.num_scales - 1
        self.out_scales = self._out_scales(out_scales)
        self.use_abs_pos_embed, self.interpolate_mode = use_abs_pos_embed, interpolate_mode
        self.with_cls_token, self.output_cls_token = with_cls_token, output_cls_token
        self.with_cp = with_cp

        patch_args = dict(patch_cfg)
        self.patch_embed = PatchEmbed3D(in_channels=in_channels, embed_dims=self.embed_dims,
                                        input_size=(temporal_size, spatial_size, spatial_size),
                                        **patch_args)
        self.patch_resolution = self.patch_embed.init_out_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        if use_abs_pos_embed:
            t, h, w = self.patch_resolution
            self.pos_embed = nn.Parameter(
                torch.zeros(1, t * h * w + self.num_extra_tokens, self.embed_dims))

        # Stochastic depth grows linearly from 0 at the first block to drop_path_rate.
        n = self.num_layers
        rates = [drop_path_rate * i / (n - 1) if n > 1 else 0.0 for i in range(n)]
        self.blocks = nn.ModuleList()
        dims, heads, stride_kv = self.embed_dims, self.num_heads, list(adaptive_kv_stride)
        size = self.patch_resolution
        for i in range(n):
            if i in self.downscale_indices or i in self.dim_mul_indices:
                heads *= head_mul
            stride_q = [1, 1, 1]
            if i in self.downscale_indices:
                stride_q = [1, 2, 2]
                stride_kv = [max(s // 2, 1) for s in stride_kv]
            widen = (i in self.dim_mul_indices) if dim_mul_in_attention \
                else (i + 1 in self.dim_mul_indices)
            out_dims = dims * dim_mul if widen else dims
            block = MultiScaleBlock(
                dims, out_dims, heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                drop_path=rates[i], norm_cfg=norm_cfg, qkv_pool_kernel=pool_kernel,
                stride_q=stride_q, stride_kv=stride_kv, rel_pos_embed=rel_pos_embed,
                residual_pooling=residual_pooling, with_cls_token=with_cls_token,
                dim_mul_in_attention=dim_mul_in_attention, input_size=size,
                rel_pos_zero_init=rel_pos_zero_init)
            self.blocks.append(block)
            size, dims = block.init_out_size, out_dims
            if self.stage_indices.get(i) in self.out_scales:
                self.add_module(f"norm{self.stage_indices[i]}", _layer_norm(norm_cfg, dims, _KEY))
        self._init_from_scratch()

    def _arch(self, arch: str | dict) -> dict:
        if isinstance(arch, str):
            if arch.lower() not in self.arch_zoo:
                raise ConfigError(f"{_KEY}.arch: {arch!r} is not one of {sorted(self.arch_zoo)}")
            return self.arch_zoo[arch.lower()]
        needed = {"embed_dims", "num_layers", "num_heads", "downscale_indices"}
        if not isinstance(arch, dict) or not needed <= set(arch):
            raise ConfigError(f"{_KEY}.arch: a custom arch is a dict with keys {sorted(needed)}, "
                              f"got {arch!r}")
        return arch

    def _out_scales(self, out_scales: int | Sequence[int]) -> list[int]:
        scales = [out_scales] if isinstance(out_scales, int) else list(out_scales)
        resolved = []
        for index in scales:
            real = index + self.num_scales if index < 0 else index
            if not 0 <= real < self.num_scales:
                raise ConfigError(f"{_KEY}.out_scales: {index} is out of range for "
                                  f"{self.num_scales} scales")
            resolved.append(real)
        return sorted(resolved)

    def _init_from_scratch(self) -> None:
        """MMAction2's default init: truncated normals (std 0.02) for convs and linears (linear
        biases 0.02), layer norms at 1 with bias 0.02; the class token stays zero."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0.02 if isinstance(m, nn.Linear) else 0.0)
            elif isinstance(m, nn.LayerNorm):
                nn.init.constant_(m.weight, 1.0)
                nn.init.constant_(m.bias, 0.02)
        if self.use_abs_pos_embed:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def init_weights(self) -> None:
        """Load ``pretrained`` / ``init_cfg=dict(type='Pretrained', checkpoint=...)`` weights
        (non-strict, as MMAction2); MaskFeat ones get their relative-position tables resized."""
        cfg = self.init_cfg
        path = cfg.get("checkpoint") if isinstance(cfg, dict) and cfg.get("type") == "Pretrained" \
            else None
        if path is None:
            if self.pretrained_type == "maskfeat":
                raise ConfigError(f"{_KEY}.pretrained: pretrained_type='maskfeat' needs a "
                                  f"checkpoint path or URL")
            return
        state = read_state_dict(path, f"{_KEY}.pretrained")
        if self.pretrained_type == "maskfeat":
            state = interpolate_rel_pos(state, {k: v.shape for k, v in self.state_dict().items()})
        load_state_non_strict(self, state, path)

    def forward(self, x: torch.Tensor) -> tuple:
        x, size = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        if self.use_abs_pos_embed:
            x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, size,
                                     self.interpolate_mode, self.num_extra_tokens)
        if not self.with_cls_token:
            x = x[:, 1:]
        outs = []
        for i, block in enumerate(self.blocks):
            if self.with_cp and self.training and x.requires_grad:
                x, size = checkpoint(block, x, size, use_reentrant=False)
            else:
                x, size = block(x, size)
            scale = self.stage_indices.get(i)
            if scale not in self.out_scales:
                continue
            x = getattr(self, f"norm{scale}")(x)
            tokens = x.transpose(1, 2)
            first = 1 if self.with_cls_token else 0
            patches = tokens[:, :, first:].reshape(x.shape[0], x.shape[2], *size)
            outs.append([patches, tokens[:, :, 0]] if self.output_cls_token else patches)
        return tuple(outs)


def load_state_non_strict(model: nn.Module, state: dict[str, torch.Tensor], path: str) -> None:
    """Copy the tensors whose names and shapes match; warn about the model's others."""
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    missing = sorted(set(own) - set(usable))
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        warnings.warn(f"{_KEY}.pretrained: loaded {len(usable)}/{len(own)} tensors from "
                      f"{path!r}; not loaded: {shown}", stacklevel=2)


@MODELS.register
class MViTHead(BaseHead):
    """Dropout and ``fc_cls`` on the last scale's class token (or its mean patch token)."""

    def __init__(self, num_classes: int, in_channels: int, loss_cls: nn.Module | dict | None = None,
                 dropout_ratio: float = 0.5, init_std: float = 0.02, init_scale: float = 1.0,
                 with_cls_token: bool = True, average_clips: str | None = None,
                 multi_class: bool = False, label_smooth_eps: float = 0.0,
                 topk: Sequence[int] = (1, 5), init_cfg: dict | None = None) -> None:
        super().__init__(num_classes, in_channels, loss_cls, multi_class, label_smooth_eps, topk,
                         average_clips, init_cfg)
        self.dropout_ratio, self.init_std, self.init_scale = dropout_ratio, init_std, init_scale
        self.with_cls_token = with_cls_token
        self.dropout = nn.Dropout(p=dropout_ratio) if dropout_ratio != 0 else None
        self.fc_cls = nn.Linear(in_channels, num_classes)
        nn.init.trunc_normal_(self.fc_cls.weight, std=init_std)
        nn.init.constant_(self.fc_cls.bias, 0.02)
        # MaskFeat fine-tuning starts from a near-zero classifier (init_scale=0.001).
        with torch.no_grad():
            self.fc_cls.weight.mul_(init_scale)
            self.fc_cls.bias.mul_(init_scale)

    def forward(self, x: tuple, num_segs: int | None = None) -> torch.Tensor:
        last = x[-1]
        if self.with_cls_token:
            if not isinstance(last, (list, tuple)):
                raise ConfigError("model.cls_head.with_cls_token: the backbone outputs no class "
                                  "token (output_cls_token=False); set with_cls_token=False")
            feat = last[1]
        else:
            feat = last[0] if isinstance(last, (list, tuple)) else last
            feat = feat.mean(dim=(2, 3, 4))
        if self.dropout is not None:
            feat = self.dropout(feat)
        return self.fc_cls(feat)
