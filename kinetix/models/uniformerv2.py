"""UniFormerV2 (Li et al., 2022): a CLIP ViT whose blocks get local temporal relation
(``lmhra``) and whose last blocks feed a small global decoder of cross-attention blocks.

Parameter names follow MMAction2's module tree (which follows OpenAI CLIP's visual encoder:
``conv1``, ``class_embedding``, ``positional_embedding``, ``ln_pre``,
``transformer.resblocks.i.{attn,ln_1,mlp.c_fc,mlp.c_proj,ln_2}``), so MMAction2's checkpoints
and the CLIP encoders it starts from load as they are. Attention runs through
``scaled_dot_product_attention`` over batch-first tokens ``(clips * frames, tokens, C)``;
MMAction2 keeps them sequence-first, which changes nothing but rounding.

Stochastic depth differs in training only: it drops whole samples here, whereas MMAction2,
applying mmcv's DropPath to sequence-first tensors, drops token positions (and the decoder's
whole batch at once). Every shipped config sets both drop-path rates to 0.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from kinetix.errors import CheckpointError, ConfigError, DataError
from kinetix.models.layers import DropPath
from kinetix.models.pretrained import load_matching_weights, read_state_dict
from kinetix.registry import MODELS

_KEY = "model.backbone"
_CLIP_ROOT = ("https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv2/"
              "clipVisualEncoder/")
# MMAction2's names for the CLIP visual encoders it starts from (``pretrained=``).
CLIP_CHECKPOINTS = {
    "ViT-B/16": _CLIP_ROOT + "vit-base-p16-res224_clip-rgb_20221219-b8a5da86.pth",
    "ViT-L/14": _CLIP_ROOT + "vit-large-p14-res224_clip-rgb_20221219-9de7543e.pth",
    "ViT-L/14_336": _CLIP_ROOT + "vit-large-p14-res336_clip-rgb_20221219-d370f9e5.pth",
}
# MMAction2's default init_cfg, applied by init_weights when nothing is loaded.
DEFAULT_INIT_CFG = [dict(type="TruncNormal", layer="Linear", std=0.02, bias=0.0),
                    dict(type="Constant", layer="LayerNorm", val=1.0, bias=0.0)]


class QuickGELU(nn.Module):
    """CLIP's sigmoid approximation of GELU (its weights were trained with it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class MultiheadAttention(nn.Module):
    """Batch-first attention with ``nn.MultiheadAttention``'s parameter names (one packed
    ``in_proj_weight``), so CLIP's keys load; ``kv`` given makes it cross-attention."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"{_KEY}: width {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

    def forward(self, x: torch.Tensor, kv: torch.Tensor | None = None) -> torch.Tensor:
        dim = x.shape[-1]
        if kv is None:
            q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        else:
            q = F.linear(x, self.in_proj_weight[:dim], self.in_proj_bias[:dim])
            k, v = F.linear(kv, self.in_proj_weight[dim:], self.in_proj_bias[dim:]).chunk(2, dim=-1)
        out = F.scaled_dot_product_attention(self._heads(q), self._heads(k), self._heads(v))
        return self.out_proj(out.transpose(1, 2).flatten(2))


class LocalMHRA(nn.Module):
    """Local relation over time: BN, 1x1x1 down, depthwise k x 1 x 1 over frames, 1x1x1 up.
    The last conv starts at zero so a fresh block is the plain CLIP block."""

    def __init__(self, d_model: int, dw_reduction: float = 1.5, pos_kernel_size: int = 3) -> None:
        super().__init__()
        reduced = int(d_model // dw_reduction)
        pad = pos_kernel_size // 2
        self.pos_embed = nn.Sequential(
            nn.BatchNorm3d(d_model),
            nn.Conv3d(d_model, reduced, kernel_size=1),
            nn.Conv3d(reduced, reduced, kernel_size=(pos_kernel_size, 1, 1), padding=(pad, 0, 0),
                      groups=reduced),
            nn.Conv3d(reduced, d_model, kernel_size=1),
        )
        nn.init.zeros_(self.pos_embed[3].weight)
        nn.init.zeros_(self.pos_embed[3].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pos_embed(x)


def _mlp(dim: int, hidden: int, dropout: float | None = None) -> nn.Sequential:
    layers = [("c_fc", nn.Linear(dim, hidden)), ("gelu", QuickGELU())]
    if dropout is not None:  # only the decoder's MLP has (and names) a dropout
        layers.append(("dropout", nn.Dropout(dropout)))
    return nn.Sequential(OrderedDict(layers + [("c_proj", nn.Linear(hidden, dim))]))


class ResidualAttentionBlock(nn.Module):
    """A CLIP block, optionally with a local MHRA before (``lmhra1``) and after (``lmhra2``,
    ``double_lmhra``) its attention. Tokens: ``(N*T, 1 + H*W, C)``, class token first."""

    def __init__(self, d_model: int, n_head: int, drop_path: float = 0.0,
                 dw_reduction: float = 1.5, no_lmhra: bool = False,
                 double_lmhra: bool = True) -> None:
        super().__init__()
        self.no_lmhra, self.double_lmhra = no_lmhra, double_lmhra
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        if not no_lmhra:
            self.lmhra1 = LocalMHRA(d_model, dw_reduction=dw_reduction)
            if double_lmhra:
                self.lmhra2 = LocalMHRA(d_model, dw_reduction=dw_reduction)
        self.attn = MultiheadAttention(d_model, n_head)
        self.ln_1 = nn.LayerNorm(d_model)
        self.mlp = _mlp(d_model, d_model * 4)
        self.ln_2 = nn.LayerNorm(d_model)

    def _local(self, x: torch.Tensor, lmhra: nn.Module, grid: tuple[int, int, int]) -> torch.Tensor:
        t, h, w = grid
        cls, tokens = x[:, :1], x[:, 1:]
        c = tokens.shape[-1]
        # (N*T, H*W, C) -> (N, C, T, H, W): the conv runs over each clip's frames.
        vol = tokens.reshape(-1, t, h, w, c).permute(0, 4, 1, 2, 3)
        vol = vol + self.drop_path(lmhra(vol))
        tokens = vol.permute(0, 2, 3, 4, 1).reshape(-1, h * w, c)
        return torch.cat((cls, tokens), dim=1)

    def forward(self, x: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        if not self.no_lmhra:
            x = self._local(x, self.lmhra1, grid)
        x = x + self.drop_path(self.attn(self.ln_1(x)))
        if not self.no_lmhra and self.double_lmhra:
            x = self._local(x, self.lmhra2, grid)
        return x + self.drop_path(self.mlp(self.ln_2(x)))


class Extractor(nn.Module):
    """A global decoder block: the video query attends to every token of every frame
    (``ln_3`` normalises those), then an MLP. Residual branches start at zero."""

    def __init__(self, d_model: int, n_head: int, mlp_factor: float = 4.0,
                 dropout: float = 0.0, drop_path: float = 0.0) -> None:
        super().__init__()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.attn = MultiheadAttention(d_model, n_head)
        self.ln_1 = nn.LayerNorm(d_model)
        self.mlp = _mlp(d_model, round(mlp_factor * d_model), dropout)
        self.ln_2 = nn.LayerNorm(d_model)
        self.ln_3 = nn.LayerNorm(d_model)
        nn.init.zeros_(self.attn.out_proj.weight)
        nn.init.xavier_uniform_(self.mlp.c_fc.weight)
        nn.init.zeros_(self.mlp.c_proj.weight)
        nn.init.zeros_(self.mlp.c_proj.bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.ln_1(x), self.ln_3(y)))
        return x + self.drop_path(self.mlp(self.ln_2(x)))


def _linspace(end: float, steps: int) -> list[float]:
    """``torch.linspace(0, end, steps)`` in Python floats (no tensor: meta-device builds)."""
    return [end * i / (steps - 1) if steps > 1 else 0.0 for i in range(steps)]


class Transformer(nn.Module):
    """The local blocks, and the global decoder fed by the blocks in ``return_list``."""

    def __init__(self, width: int, layers: int, heads: int, backbone_drop_path_rate: float = 0.0,
                 dw_reduction: float = 1.5, no_lmhra: bool = True, double_lmhra: bool = False,
                 return_list: Sequence[int] = (8, 9, 10, 11), n_layers: int = 4,
                 n_dim: int = 768, n_head: int = 12, mlp_factor: float = 4.0,
                 drop_path_rate: float = 0.0,
                 mlp_dropout: Sequence[float] = (0.5, 0.5, 0.5, 0.5)) -> None:
        super().__init__()
        self.return_list = list(return_list)
        self.resblocks = nn.ModuleList(
            ResidualAttentionBlock(width, heads, drop_path=rate, dw_reduction=dw_reduction,
                                   no_lmhra=no_lmhra, double_lmhra=double_lmhra)
            for rate in _linspace(backbone_drop_path_rate, layers))
        self.temporal_cls_token = nn.Parameter(torch.zeros(1, 1, n_dim))
        # Dynamic position encoding: a depthwise 3x3x3 conv over each fed block's tokens.
        self.dpe = nn.ModuleList(nn.Conv3d(n_dim, n_dim, kernel_size=3, padding=1, groups=n_dim)
                                 for _ in range(n_layers))
        for conv in self.dpe:
            nn.init.zeros_(conv.bias)
        self.dec = nn.ModuleList(
            Extractor(n_dim, n_head, mlp_factor=mlp_factor, dropout=mlp_dropout[i], drop_path=rate)
            for i, rate in enumerate(_linspace(drop_path_rate, n_layers)))
        self.norm = nn.LayerNorm(n_dim)
        # sigmoid(balance) mixes the decoder's query with the mean class token of the frames.
        self.balance = nn.Parameter(torch.zeros(n_dim))
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        t, h, w = grid
        nt, length, c = x.shape
        n = nt // t
        # A copy, not an expand: a no_grad view of a parameter passed into a module trips
        # torch's module tracker (FlopCounterMode, in tools/analysis_tools/get_flops.py).
        query = self.temporal_cls_token.repeat(n, 1, 1)
        j = -1
        for i, block in enumerate(self.resblocks):
            x = block(x, grid)
            if i not in self.return_list:
                continue
            j += 1
            frames = x.view(n, t, length, c)
            vol = frames[:, :, 1:].permute(0, 3, 1, 2).reshape(n, c, t, h, w)
            pos = self.dpe[j](vol).flatten(3).permute(0, 2, 3, 1)   # (N, T, H*W, C)
            feats = torch.cat((frames[:, :, :1], frames[:, :, 1:] + pos), dim=2)
            query = self.dec[j](query, feats.reshape(n, t * length, c))
        weight = self.sigmoid(self.balance)
        frame_cls = x.view(n, t, length, c)[:, :, 0].mean(1)
        return self.norm((1 - weight) * query[:, 0] + weight * frame_cls)


def inflate_center(weight_2d: torch.Tensor, time_dim: int) -> torch.Tensor:
    """A 2D kernel ``(O, I, kh, kw)`` as a 3D one ``(O, I, time_dim, kh, kw)`` that is zero
    but at the middle frame: a clip then starts with the image model's response."""
    weight = weight_2d.new_zeros(weight_2d.shape[:2] + (time_dim,) + weight_2d.shape[2:])
    weight[:, :, time_dim // 2] = weight_2d
    return weight


def convert_clip_state_dict(clip_state: dict[str, torch.Tensor],
                            own_shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    """A CLIP visual encoder's state dict as UniFormerV2 loads it (MMAction2's
    ``_load_pretrained``): keys are shared already (an OpenAI checkpoint's ``visual.``
    prefix is dropped, with its text tower); a 2D kernel whose 3D counterpart differs is
    inflated at the centre frame; tensors this model lacks (``ln_post``, ``proj``) are left
    out. A shape that cannot be fitted (a position embedding of another resolution) is
    left out with a warning, where MMAction2 fails on it."""
    if any(k.startswith("visual.") for k in clip_state):
        clip_state = {k[len("visual."):]: v for k, v in clip_state.items() if k.startswith("visual.")}
    out, skipped = {}, []
    for name, value in clip_state.items():
        if name not in own_shapes:
            continue
        shape = own_shapes[name]
        if value.shape != shape:
            if len(shape) == 5 and value.dim() == 4 and value.shape == shape[:2] + shape[3:]:
                value = inflate_center(value, shape[2])
            else:
                skipped.append(f"{name} {tuple(value.shape)} vs {tuple(shape)}")
                continue
        out[name] = value
    if skipped:
        warnings.warn(f"{_KEY}.pretrained: CLIP tensors of another shape not loaded: "
                      f"{', '.join(skipped)}", stacklevel=2)
    return out


def _pretrained_checkpoint(init_cfg: object) -> str | None:
    """The checkpoint of an ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``."""
    items = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    for item in items:
        if isinstance(item, dict) and item.get("type") == "Pretrained":
            if item.get("prefix") not in (None, "backbone."):
                raise ConfigError(f"{_KEY}.init_cfg.prefix: only 'backbone.' is supported, "
                                  f"got {item['prefix']!r}")
            return item.get("checkpoint")
    return None


@MODELS.register
class UniFormerV2(nn.Module):
    """Clips ``(N, 3, T, H, W)`` -> one feature per clip ``(N, n_dim)`` (for TimeSformerHead).

    ``pretrained`` names a CLIP encoder (``ViT-B/16``, ``ViT-L/14``, ``ViT-L/14_336``, or a
    path) loaded by :meth:`init_weights` when ``clip_pretrained``; otherwise ``pretrained``
    or ``init_cfg=dict(type='Pretrained', ...)`` is a whole checkpoint.
    """

    def __init__(self, input_resolution: int = 224, patch_size: int = 16, width: int = 768,
                 layers: int = 12, heads: int = 12, backbone_drop_path_rate: float = 0.0,
                 t_size: int = 8, kernel_size: int = 3, dw_reduction: float = 1.5,
                 temporal_downsample: bool = False, no_lmhra: bool = True,
                 double_lmhra: bool = False, return_list: Sequence[int] = (8, 9, 10, 11),
                 n_layers: int = 4, n_dim: int = 768, n_head: int = 12, mlp_factor: float = 4.0,
                 drop_path_rate: float = 0.0,
                 mlp_dropout: Sequence[float] = (0.5, 0.5, 0.5, 0.5),
                 clip_pretrained: bool = True, pretrained: str | None = None,
                 init_cfg: dict | list | None = DEFAULT_INIT_CFG) -> None:
        super().__init__()
        if n_dim != width:
            raise ConfigError(f"{_KEY}.n_dim: the decoder reads the blocks' tokens, so it must "
                              f"equal width ({width}), got {n_dim}")
        if len(return_list) != n_layers:
            raise ConfigError(f"{_KEY}.return_list: one block per decoder layer (n_layers="
                              f"{n_layers}), got {list(return_list)}")
        if len(mlp_dropout) < n_layers:
            raise ConfigError(f"{_KEY}.mlp_dropout: one rate per decoder layer (n_layers="
                              f"{n_layers}), got {list(mlp_dropout)}")
        bad = [i for i in return_list if not 0 <= i < layers]
        if bad:
            raise ConfigError(f"{_KEY}.return_list: block {bad[0]} is not one of the "
                              f"{layers} blocks")
        self.input_resolution, self.patch_size = input_resolution, patch_size
        self.clip_pretrained, self.pretrained, self.init_cfg = clip_pretrained, pretrained, init_cfg
        if temporal_downsample:   # the patch embedding also halves the frames
            pad = (kernel_size - 1) // 2
            self.conv1 = nn.Conv3d(3, width, (kernel_size, patch_size, patch_size),
                                   (2, patch_size, patch_size), (pad, 0, 0), bias=False)
            t_size = t_size // 2
        else:
            self.conv1 = nn.Conv3d(3, width, (1, patch_size, patch_size),
                                   (1, patch_size, patch_size), bias=False)
        self.t_size = t_size
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(
            scale * torch.randn((input_resolution // patch_size) ** 2 + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(
            width, layers, heads, backbone_drop_path_rate=backbone_drop_path_rate,
            dw_reduction=dw_reduction, no_lmhra=no_lmhra, double_lmhra=double_lmhra,
            return_list=return_list, n_layers=n_layers, n_dim=n_dim, n_head=n_head,
            mlp_factor=mlp_factor, drop_path_rate=drop_path_rate, mlp_dropout=mlp_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        n, c, t, h, w = x.shape
        if t != self.t_size:
            raise DataError(f"{_KEY}: got clips of {t} frames after the patch embedding, but "
                            f"t_size is {self.t_size}; make the sampler's clip_len match")
        if h * w + 1 != self.positional_embedding.shape[0]:
            raise DataError(f"{_KEY}: input of {h * self.patch_size}x{w * self.patch_size} px, "
                            f"but the position embedding is for {self.input_resolution} px "
                            f"(input_resolution); crop the input to that size")
        x = x.permute(0, 2, 3, 4, 1).reshape(n * t, h * w, c)
        cls = self.class_embedding.to(x.dtype).expand(n * t, 1, c)
        x = torch.cat((cls, x), dim=1) + self.positional_embedding.to(x.dtype)
        return self.transformer(self.ln_pre(x), (t, h, w))

    def init_weights(self) -> None:
        """MMAction2's start: a CLIP encoder (``clip_pretrained``), else a whole checkpoint
        (``pretrained`` or ``init_cfg``), else (unless ``init_cfg=None``) truncated-normal
        linears and unit layer norms."""
        if self.clip_pretrained:
            if self.pretrained is None:
                raise ConfigError(f"{_KEY}.pretrained: clip_pretrained=True needs a CLIP "
                                  f"encoder, one of {sorted(CLIP_CHECKPOINTS)} or a path "
                                  f"(or set clip_pretrained=False)")
            self.load_clip(CLIP_CHECKPOINTS.get(self.pretrained, self.pretrained))
            return
        checkpoint = self.pretrained or _pretrained_checkpoint(self.init_cfg)
        if checkpoint:
            load_matching_weights(self, checkpoint, f"{_KEY}.pretrained")
            return
        if self.init_cfg is None:
            return
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def load_clip(self, path: str) -> None:
        """Load a CLIP visual encoder (file or URL) into the blocks it shares with this model."""
        own = {k: v.shape for k, v in self.state_dict().items()}
        state = convert_clip_state_dict(read_state_dict(path, f"{_KEY}.pretrained"), own)
        if not state:
            raise CheckpointError(f"{_KEY}.pretrained: no tensor of {path!r} matches "
                                  f"UniFormerV2 (expected CLIP names like 'conv1.weight')")
        self.load_state_dict(state, strict=False)
