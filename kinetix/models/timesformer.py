"""TimeSformer: a ViT-B/16 over the frames of a clip, with three ways to attend over time.

"Is Space-Time Attention All You Need for Video Understanding?"
(https://arxiv.org/abs/2102.05095). Every frame is cut into 16x16 patches (one Conv2d) and
the frames share a class token. ``attention_type``:

* ``divided_space_time``: each block attends over time (the same patch in every frame),
  then over space (the patches of one frame and the class token), then an MLP;
* ``joint_space_time``: one attention over all patches of all frames;
* ``space_only``: every frame on its own (a plain ViT per frame); the frames' tokens are
  averaged at the end.

MMAction2 builds the blocks from mmcv's transformer bricks; the module tree here repeats
theirs (``transformer_layers.layers.N.attentions.M.attn`` is a ``nn.MultiheadAttention``
with ``in_proj_weight``, ``ffns.0.layers.0.0``, ``norms.K``), so its checkpoints load with
``strict=True``. ``nn.MultiheadAttention`` without attention weights runs
``scaled_dot_product_attention`` (fused kernels on GPUs).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from kinetix.errors import ConfigError
from kinetix.models.layers import FFN, build_dropout, build_norm_layer
from kinetix.models.pretrained import read_state_dict
from kinetix.registry import MODELS

_KEY = "model.backbone"
ATTENTION_TYPES = ("divided_space_time", "space_only", "joint_space_time")


def _attend(attn: nn.MultiheadAttention, x: torch.Tensor) -> torch.Tensor:
    return attn(x, x, x, need_weights=False)[0]


class MultiheadAttention(nn.Module):
    """mmcv's wrapper: ``identity + dropout_layer(proj_drop(attention(x)))``; the caller
    passes the normalised tokens as ``x`` and the un-normalised ones as ``identity``."""

    def __init__(self, embed_dims: int, num_heads: int, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, dropout_layer: dict | None = None) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, attn_drop, batch_first=True)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dropout_layer = build_dropout(dropout_layer)

    def forward(self, x: torch.Tensor, identity: torch.Tensor) -> torch.Tensor:
        return identity + self.dropout_layer(self.proj_drop(_attend(self.attn, x)))


class DividedTemporalAttentionWithNorm(nn.Module):
    """Attention over the ``num_frames`` tokens of each patch position; the class token passes
    through. Its output goes through ``temporal_fc`` (zero at start: the block begins as a
    space-only ViT block, which is what lets ImageNet weights start it)."""

    def __init__(self, embed_dims: int, num_heads: int, num_frames: int, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, dropout_layer: dict | None = None,
                 norm_cfg: dict = dict(type="LN")) -> None:
        super().__init__()
        self.num_frames = num_frames
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, attn_drop, batch_first=True)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dropout_layer = build_dropout(dropout_layer)
        self.temporal_fc = nn.Linear(embed_dims, embed_dims)
        nn.init.zeros_(self.temporal_fc.weight)
        nn.init.zeros_(self.temporal_fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cls, tokens = x[:, :1], x[:, 1:]          # tokens ordered (patch, frame)
        b, pt, m = tokens.shape
        t = self.num_frames
        q = self.norm(tokens.reshape(b * (pt // t), t, m))
        res = self.dropout_layer(self.proj_drop(_attend(self.attn, q)))
        res = self.temporal_fc(res).reshape(b, pt, m)
        return torch.cat((cls, tokens + res), dim=1)


class DividedSpatialAttentionWithNorm(nn.Module):
    """Attention over the patches of each frame plus the class token (a copy per frame);
    the class token's per-frame results are averaged."""

    def __init__(self, embed_dims: int, num_heads: int, num_frames: int, attn_drop: float = 0.0,
                 proj_drop: float = 0.0, dropout_layer: dict | None = None,
                 norm_cfg: dict = dict(type="LN")) -> None:
        super().__init__()
        self.num_frames = num_frames
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, attn_drop, batch_first=True)
        self.proj_drop = nn.Dropout(proj_drop)
        self.dropout_layer = build_dropout(dropout_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cls, tokens = x[:, :1], x[:, 1:]
        b, pt, m = tokens.shape
        t = self.num_frames
        p = pt // t
        frames = tokens.reshape(b, p, t, m).transpose(1, 2).reshape(b * t, p, m)
        cls_per_frame = cls.expand(b, t, m).reshape(b * t, 1, m)
        q = self.norm(torch.cat((cls_per_frame, frames), dim=1))
        res = self.dropout_layer(self.proj_drop(_attend(self.attn, q)))
        cls_res = res[:, 0].reshape(b, t, m).mean(dim=1, keepdim=True)
        patch_res = res[:, 1:].reshape(b, t, p, m).transpose(1, 2).reshape(b, pt, m)
        return x + torch.cat((cls_res, patch_res), dim=1)


class FFNWithNorm(FFN):
    """An FFN that normalises its input first (``norm``) and adds the un-normalised input."""

    def __init__(self, *args, norm_cfg: dict = dict(type="LN"), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.norm = build_norm_layer(norm_cfg, self.embed_dims)[1]

    def forward(self, x: torch.Tensor, identity: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(self.norm(x), x)


class TransformerLayer(nn.Module):
    """One block, laid out as mmcv's ``BaseTransformerLayer`` (``attentions``, ``ffns``,
    ``norms``): divided (temporal, spatial, FFN, each with its own norm) or pre-norm
    (norm, attention, norm, FFN)."""

    def __init__(self, embed_dims: int, num_heads: int, num_frames: int, divided: bool,
                 drop_path: float) -> None:
        super().__init__()
        self.divided = divided
        dp = dict(type="DropPath", drop_prob=drop_path)
        ffn = dict(embed_dims=embed_dims, feedforward_channels=embed_dims * 4, num_fcs=2,
                   act_cfg=dict(type="GELU"), dropout_layer=dp)
        # MMAction2 gives the blocks' norms eps=1e-6 whatever the backbone's norm_cfg says.
        ln = dict(type="LN", eps=1e-6)
        if divided:
            self.attentions = nn.ModuleList([
                DividedTemporalAttentionWithNorm(embed_dims, num_heads, num_frames,
                                                 dropout_layer=dp, norm_cfg=ln),
                DividedSpatialAttentionWithNorm(embed_dims, num_heads, num_frames,
                                                dropout_layer=dp, norm_cfg=ln)])
            self.ffns = nn.ModuleList([FFNWithNorm(**ffn, norm_cfg=ln)])
            self.norms = nn.ModuleList()      # registered last, as mmcv's (key order)
        else:
            self.attentions = nn.ModuleList([MultiheadAttention(embed_dims, num_heads,
                                                                dropout_layer=dp)])
            self.ffns = nn.ModuleList([FFN(**ffn)])
            self.norms = nn.ModuleList(build_norm_layer(ln, embed_dims)[1] for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.divided:
            return self.ffns[0](self.attentions[1](self.attentions[0](x)))
        x = self.attentions[0](self.norms[0](x), identity=x)
        return self.ffns[0](self.norms[1](x), identity=x)


class TransformerLayerSequence(nn.Module):
    def __init__(self, layers: list[TransformerLayer], with_cp: bool = False) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.with_cp = with_cp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            if self.with_cp and self.training and x.requires_grad:
                x = checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        return x


def convert_vit_pretrained(state_dict: dict[str, torch.Tensor],
                           attention_type: str) -> dict[str, torch.Tensor]:
    """An ImageNet ViT checkpoint in mmcv's layout (``...layers.N.norms.0``, ``attentions.0``)
    made to fit a TimeSformer, as MMAction2's ``init_weights`` does. For divided space-time
    the pre-norm layer's norms move into the bricks (``norms.0`` -> ``attentions.0.norm``,
    ``norms.1`` -> ``ffns.0.norm``) and the image attention (with its norm) is copied into
    the spatial attention ``attentions.1``; the temporal one keeps a copy too, silenced at
    the start by its zero ``temporal_fc``. Other types use the checkpoint as it is."""
    if attention_type not in ATTENTION_TYPES:
        raise ConfigError(f"{_KEY}.attention_type: {attention_type!r} is not one of "
                          f"{ATTENTION_TYPES}")
    out = dict(state_dict)
    if attention_type != "divided_space_time":
        return out
    for key in [k for k in out if "norms" in k]:
        new = key.replace("norms.0", "attentions.0.norm").replace("norms.1", "ffns.0.norm")
        out[new] = out.pop(key)
    for key in [k for k in out if "attentions.0" in k]:
        out[key.replace("attentions.0", "attentions.1")] = out[key].clone()
    return out


@MODELS.register
class TimeSformer(nn.Module):
    """``(N, C, T, H, W)`` clips -> ``(N, embed_dims)``: the class token after ``norm``.

    ``drop_path_rate`` (kinetix's name for MMAction2's fixed 0.1) is the stochastic depth of
    the last block, growing linearly from 0 at the first; ``with_cp`` recomputes each block
    in the backward pass. ``transformer_layers`` (custom mmcv brick configs) is not supported.
    """

    def __init__(self, num_frames: int, img_size: int, patch_size: int,
                 pretrained: str | None = None, embed_dims: int = 768, num_heads: int = 12,
                 num_transformer_layers: int = 12, in_channels: int = 3,
                 dropout_ratio: float = 0.0, transformer_layers: dict | list | None = None,
                 attention_type: str = "divided_space_time",
                 norm_cfg: dict = dict(type="LN", eps=1e-6), drop_path_rate: float = 0.1,
                 with_cp: bool = False) -> None:
        super().__init__()
        if attention_type not in ATTENTION_TYPES:
            raise ConfigError(f"{_KEY}.attention_type: {attention_type!r} is not one of "
                              f"{ATTENTION_TYPES}")
        if transformer_layers is not None:
            raise ConfigError(f"{_KEY}.transformer_layers: custom transformer layer configs are "
                              f"not supported; leave it None (attention_type picks the layers)")
        if img_size % patch_size:
            raise ConfigError(f"{_KEY}.img_size: {img_size} is not a multiple of "
                              f"patch_size={patch_size}")
        if embed_dims % num_heads:
            raise ConfigError(f"{_KEY}.num_heads: {num_heads} does not divide "
                              f"embed_dims={embed_dims}")
        self.num_frames, self.pretrained = num_frames, pretrained
        self.embed_dims, self.attention_type = embed_dims, attention_type
        self.img_size, self.patch_size = img_size, patch_size
        self.num_transformer_layers = num_transformer_layers
        num_patches = (img_size // patch_size) ** 2
        # MMAction2's PatchEmbed holds its Conv2d as ``projection`` (LeCun-normal init).
        self.patch_embed = nn.Module()
        self.patch_embed.projection = nn.Conv2d(in_channels, embed_dims, patch_size, patch_size)
        nn.init.kaiming_normal_(self.patch_embed.projection.weight, mode="fan_in",
                                nonlinearity="linear")
        nn.init.zeros_(self.patch_embed.projection.bias)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dims))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.drop_after_pos = nn.Dropout(dropout_ratio)
        if attention_type != "space_only":
            self.time_embed = nn.Parameter(torch.zeros(1, num_frames, embed_dims))
            self.drop_after_time = nn.Dropout(dropout_ratio)
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]
        n = num_transformer_layers
        rates = [drop_path_rate * i / (n - 1) if n > 1 else 0.0 for i in range(n)]
        divided = attention_type == "divided_space_time"
        self.transformer_layers = TransformerLayerSequence(
            [TransformerLayer(embed_dims, num_heads, num_frames, divided, rate)
             for rate in rates], with_cp=with_cp)

    def init_weights(self) -> None:
        """Load ``pretrained`` (an ImageNet ViT in mmcv's layout), converted by
        ``convert_vit_pretrained``; tensors without a match of the same shape are skipped."""
        if self.pretrained is None:
            return
        if not isinstance(self.pretrained, str):
            raise ConfigError(f"{_KEY}.pretrained: expected a path or None, got "
                              f"{self.pretrained!r}")
        state = convert_vit_pretrained(read_state_dict(self.pretrained), self.attention_type)
        own = self.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not usable:
            raise ConfigError(f"{_KEY}.pretrained: no tensor of {self.pretrained!r} fits "
                              f"this TimeSformer")
        self.load_state_dict(usable, strict=False)
        missing = sorted(set(own) - set(usable))
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            warnings.warn(f"{_KEY}.pretrained: loaded {len(usable)}/{len(own)} tensors from "
                          f"{self.pretrained!r}; not loaded: {shown}", stacklevel=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        if (h, w) != (self.img_size, self.img_size) or t != self.num_frames:
            raise ConfigError(f"{_KEY}: TimeSformer built for {self.num_frames} frames of "
                              f"{self.img_size}x{self.img_size} got a clip of {t} frames of "
                              f"{h}x{w}")
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        x = self.patch_embed.projection(frames).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(b * t, -1, -1), x), dim=1)
        x = self.drop_after_pos(x + self.pos_embed)
        if self.attention_type != "space_only":
            # One class token per clip (the first frame's: all frames' are equal before the
            # dropout); the patches get the time embedding and are ordered (patch, frame).
            cls = x.view(b, t, -1, self.embed_dims)[:, 0, :1]
            patches = x[:, 1:].reshape(b, t, -1, self.embed_dims).transpose(1, 2)
            patches = self.drop_after_time(patches + self.time_embed.unsqueeze(1))
            x = torch.cat((cls, patches.flatten(1, 2)), dim=1)
        x = self.transformer_layers(x)
        if self.attention_type == "space_only":
            x = x.view(b, t, -1, self.embed_dims).mean(dim=1)
        return self.norm(x)[:, 0]
