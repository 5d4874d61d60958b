"""VisionTransformer: the plain ViT that VideoMAE and VideoMAE V2 fine-tune.

"VideoMAE: Masked Autoencoders are Data-Efficient Learners for Self-Supervised Video
Pre-Training" (https://arxiv.org/abs/2203.12602). A clip is cut into tubelets
(``tubelet_size`` frames x ``patch_size``^2 pixels, one Conv3d), every tubelet becomes a
token, a fixed sine-cosine (or learned) position embedding is added, and ``depth`` pre-norm
blocks run over all the tokens at once; the output is the mean token after ``fc_norm``
(``use_mean_pooling``) or the first token after ``norm``.

Parameter names follow MMAction2's (``patch_embed.projection``, ``blocks.N.attn.qkv``,
``blocks.N.attn.q_bias``/``v_bias``, ``blocks.N.mlp.layers.0.0``, ``fc_norm``), so its
checkpoints load with ``strict=True``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from kinetix.errors import ConfigError
from kinetix.models.layers import FFN, DropPath, build_norm_layer, init_linear_and_norm
from kinetix.models.pretrained import load_matching_weights, pretrained_path
from kinetix.registry import MODELS

_KEY = "model.backbone"


def sinusoid_table(n_position: int, embed_dims: int) -> torch.Tensor:
    """``(1, n_position, embed_dims)``: channel ``2i`` holds ``sin(pos / 10000^(2i/d))``,
    channel ``2i+1`` the cosine of the same angle (computed in float64, stored in float32)."""
    pairs = torch.div(torch.arange(embed_dims), 2, rounding_mode="floor").to(torch.float64)
    inv_freq = torch.pow(torch.tensor(10000.0, dtype=torch.float64), -2 * pairs / embed_dims)
    angles = torch.arange(n_position, dtype=torch.float64)[:, None] * inv_freq[None, :]
    even = (torch.arange(embed_dims) % 2 == 0)[None, :]
    table = torch.where(even, angles.sin(), angles.cos())
    return table.to(torch.float32).unsqueeze(0)


class Attention(nn.Module):
    """Multi-head self-attention with one ``qkv`` matrix; the keys get no bias (``q_bias`` and
    ``v_bias`` only, as BEiT/VideoMAE train it)."""

    def __init__(self, embed_dims: int, num_heads: int = 8, qkv_bias: bool = True,
                 qk_scale: float | None = None, attn_drop_rate: float = 0.0,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ConfigError(f"{_KEY}.num_heads: {num_heads} does not divide "
                              f"embed_dims={embed_dims}")
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.scale = qk_scale or (embed_dims // num_heads) ** -0.5
        if qkv_bias:
            self.q_bias = nn.Parameter(torch.zeros(embed_dims))
            self.v_bias = nn.Parameter(torch.zeros(embed_dims))
        else:
            self.q_bias = self.v_bias = None
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=False)
        self.attn_drop = float(attn_drop_rate)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.proj_drop = nn.Dropout(drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        bias = None
        if self.q_bias is not None:
            bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias)
        q, k, v = qkv.view(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v, scale=self.scale,
                                           dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(b, n, c)))


class Block(nn.Module):
    """Pre-norm transformer block; ``init_values > 0`` adds the per-channel residual scales
    ``gamma_1``/``gamma_2`` (LayerScale)."""

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, qk_scale: float | None = None, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 init_values: float = 0.0, act_cfg: dict = dict(type="GELU"),
                 norm_cfg: dict = dict(type="LN", eps=1e-6)) -> None:
        super().__init__()
        self.norm1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = Attention(embed_dims, num_heads, qkv_bias, qk_scale, attn_drop_rate,
                              drop_rate)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()
        self.norm2 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.mlp = FFN(embed_dims=embed_dims, feedforward_channels=int(embed_dims * mlp_ratio),
                       act_cfg=act_cfg, ffn_drop=drop_rate, add_identity=False)
        if init_values > 0:
            self.gamma_1 = nn.Parameter(torch.full((embed_dims,), float(init_values)))
            self.gamma_2 = nn.Parameter(torch.full((embed_dims,), float(init_values)))
        else:
            self.gamma_1 = self.gamma_2 = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attn(self.norm1(x))
        if self.gamma_1 is not None:
            a = self.gamma_1 * a
        x = x + self.drop_path(a)
        m = self.mlp(self.norm2(x))
        if self.gamma_2 is not None:
            m = self.gamma_2 * m
        return x + self.drop_path(m)


@MODELS.register
class VisionTransformer(nn.Module):
    """ViT over tubelets of a clip ``(N, C, T, H, W)`` -> ``(N, embed_dims)`` features (or the
    token map ``(N, embed_dims, T', H', W')`` with ``return_feat_map``).

    A clip of another spatial size than ``img_size`` gets its position embedding resized
    (bicubic, per time step), as MMAction2 does. ``with_cp`` recomputes each block in the
    backward pass instead of keeping its activations (a kinetix addition: MMAction2 accepts
    and ignores it). ``pretrained`` loads the tensors of a checkpoint whose names and shapes
    match (MMAction2 ignores it too, its init_cfg overriding it).
    """

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_channels: int = 3,
                 embed_dims: int = 768, depth: int = 12, num_heads: int = 12,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, qk_scale: float | None = None,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, norm_cfg: dict = dict(type="LN", eps=1e-6),
                 init_values: float = 0.0, use_learnable_pos_emb: bool = False,
                 num_frames: int = 16, tubelet_size: int = 2, use_mean_pooling: bool = True,
                 pretrained: str | None = None, return_feat_map: bool = False,
                 with_cp: bool = False, init_cfg: dict | list | None = None) -> None:
        super().__init__()
        if img_size % patch_size or num_frames % tubelet_size:
            raise ConfigError(f"{_KEY}: img_size={img_size} and num_frames={num_frames} must be "
                              f"multiples of patch_size={patch_size} and "
                              f"tubelet_size={tubelet_size}")
        self.embed_dims, self.patch_size, self.tubelet_size = embed_dims, patch_size, tubelet_size
        self.pretrained, self.init_cfg = pretrained, init_cfg
        self.return_feat_map, self.with_cp = return_feat_map, with_cp
        # mmcv's PatchEmbed holds the conv as ``projection``.
        self.patch_embed = nn.Module()
        self.patch_embed.projection = nn.Conv3d(
            in_channels, embed_dims, kernel_size=(tubelet_size, patch_size, patch_size),
            stride=(tubelet_size, patch_size, patch_size))
        grid = img_size // patch_size
        self.grid_size = (grid, grid)
        num_patches = grid * grid * (num_frames // tubelet_size)
        if use_learnable_pos_emb:
            self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, embed_dims))
        else:
            self.register_buffer("pos_embed", sinusoid_table(num_patches, embed_dims))
        self.pos_drop = nn.Dropout(drop_rate)
        # Stochastic depth grows linearly with depth (Python floats: no tensor work, meta-safe).
        rates = [drop_path_rate * i / (depth - 1) if depth > 1 else 0.0 for i in range(depth)]
        self.blocks = nn.ModuleList(
            Block(embed_dims, num_heads, mlp_ratio, qkv_bias, qk_scale, drop_rate,
                  attn_drop_rate, rates[i], init_values, norm_cfg=norm_cfg)
            for i in range(depth))
        if use_mean_pooling:
            self.norm = nn.Identity()
            self.fc_norm = build_norm_layer(norm_cfg, embed_dims)[1]
        else:
            self.norm = build_norm_layer(norm_cfg, embed_dims)[1]
            self.fc_norm = None
        self._init_from_scratch(use_learnable_pos_emb)

    def _init_from_scratch(self, learnable_pos: bool) -> None:
        # MMAction2's default init_cfg: truncated normal Linear weights, unit LayerNorms.
        init_linear_and_norm(self)
        if learnable_pos:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def init_weights(self) -> None:
        if pretrained_path(self.pretrained, f"{_KEY}.pretrained") is not None:
            load_matching_weights(self, self.pretrained)

    def _pos_embed(self, h: int, w: int) -> torch.Tensor:
        if (h, w) == self.grid_size:
            return self.pos_embed
        # One grid per time step, resized on its own (bicubic, as MMAction2).
        grid = self.pos_embed.reshape(-1, *self.grid_size, self.embed_dims).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
        return grid.permute(0, 2, 3, 1).reshape(1, -1, self.embed_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        x = self.patch_embed.projection(x)
        t, h, w = x.shape[2:]
        x = x.flatten(2).transpose(1, 2)
        pos = self._pos_embed(h, w)
        if pos.shape[1] != x.shape[1]:
            raise ConfigError(f"{_KEY}.num_frames: a clip of {t * self.tubelet_size} frames gives "
                              f"{x.shape[1]} tokens, the position embedding has {pos.shape[1]}")
        x = self.pos_drop(x + pos)
        for blk in self.blocks:
            if self.with_cp and self.training and x.requires_grad:
                x = checkpoint(blk, x, use_reentrant=False)
            else:
                x = blk(x)
        x = self.norm(x)
        if self.return_feat_map:
            return x.reshape(b, t, h, w, self.embed_dims).permute(0, 4, 1, 2, 3)
        if self.fc_norm is not None:
            return self.fc_norm(x.mean(1))
        return x[:, 0]
