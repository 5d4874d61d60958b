"""UniFormer (v1): convolutional relation aggregators early, self-attention late.

"UniFormer: Unified Transformer for Efficient Spatiotemporal Representation Learning"
(https://arxiv.org/abs/2201.04676). Four stages, each opened by a strided patch embedding
(the first one also halves time with a 3-frame kernel). Stages 1-2 use :class:`CBlock`, whose
"attention" is a depthwise 5x5x5 convolution between two 1x1x1 projections under batch norm;
stages 3-4 use :class:`SABlock`, global space-time self-attention over every token. Every block
first adds a depthwise 3x3x3 convolution of its input (a dynamic position embedding).

Parameter names are MMAction2's (``patch_embed1.proj``, ``blocks3.0.attn.qkv``, ``norm``...),
so its checkpoints load with strict=True. ``pretrained`` names an ImageNet-1k 2D UniFormer
('uniformer_small_in1k', 'uniformer_base_in1k') or a path/URL; with ``pretrained2d`` its 2D
kernels are inflated to 3D by :func:`inflate_2d_state_dict`.
"""

from __future__ import annotations

import json
import warnings
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import checkpoint as cp

from kinetix.errors import CheckpointError, ConfigError
from kinetix.models.heads import BaseHead
from kinetix.models.layers import DropPath, init_linear_and_norm
from kinetix.models.pretrained import pretrained_path, read_state_dict
from kinetix.registry import MODELS

_URL = "https://download.openmmlab.com/mmaction/v1.0/recognition/uniformerv1"
# MMAction2's ``pretrained`` takes these names (not paths) when ``pretrained2d`` is on.
PRETRAINED_2D = {
    "uniformer_small_in1k": f"{_URL}/uniformer_small_in1k_20221219-fe0a7ae0.pth",
    "uniformer_base_in1k": f"{_URL}/uniformer_base_in1k_20221219-82c01015.pth",
}


def _dw(dim: int, k: int) -> nn.Conv3d:
    """Depthwise k x k x k conv keeping the size."""
    return nn.Conv3d(dim, dim, k, 1, k // 2, groups=dim)


def _pw(cin: int, cout: int) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, 1)


class Mlp(nn.Module):
    """fc1 -> GELU -> dropout -> fc2 -> dropout; ``conv`` makes the fcs 1x1x1 convolutions
    (CBlock's channel-first MLP) instead of linears (SABlock's token MLP)."""

    def __init__(self, in_features: int, hidden_features: int, drop: float = 0.0,
                 conv: bool = False) -> None:
        super().__init__()
        fc = _pw if conv else nn.Linear
        self.fc1 = fc(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = fc(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Attention(nn.Module):
    """Multi-head self-attention over (B, N, C) tokens, through
    ``scaled_dot_product_attention`` (fused kernels on GPUs)."""

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True,
                 qk_scale: float | None = None, attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        if num_heads < 1 or dim % num_heads:
            raise ConfigError(f"model.backbone: width {dim} is not a multiple of the "
                              f"{num_heads} heads (embed_dim / head_dim)")
        self.num_heads = num_heads
        # MMAction2 writes ``qk_scale or head_dim ** -0.5``: a 0 falls back too.
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.attn_drop = float(attn_drop)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads) \
            .permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.attn_drop if self.training else 0.0, scale=self.scale)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(b, n, c)))


class CBlock(nn.Module):
    """Local relation aggregator: BN -> 1x1x1 -> depthwise 5x5x5 -> 1x1x1, then a conv MLP."""

    def __init__(self, dim: int, mlp_ratio: float = 4.0, drop: float = 0.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.pos_embed = _dw(dim, 3)
        self.norm1 = nn.BatchNorm3d(dim)
        self.conv1 = _pw(dim, dim)
        self.conv2 = _pw(dim, dim)
        self.attn = _dw(dim, 5)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.BatchNorm3d(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop, conv=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pos_embed(x)
        x = x + self.drop_path(self.conv2(self.attn(self.conv1(self.norm1(x)))))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class SABlock(nn.Module):
    """Global relation aggregator: pre-norm self-attention and MLP over all T*H*W tokens."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = False,
                 qk_scale: float | None = None, drop: float = 0.0, attn_drop: float = 0.0,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        self.pos_embed = _dw(dim, 3)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias, qk_scale, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pos_embed(x)
        shape = x.shape
        x = x.flatten(2).transpose(1, 2)  # (B, T*H*W, C)
        x = x + self.drop_path(self.attn(self.norm1(x)))
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x.transpose(1, 2).reshape(shape)


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch_size`` spatial patches (time kept, or halved by a 3-frame,
    stride-2 kernel with ``temporal_downsample``), then LayerNorm over channels."""

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3,
                 embed_dim: int = 768, temporal_downsample: bool = False) -> None:
        super().__init__()
        self.img_size, self.patch_size = (img_size, img_size), (patch_size, patch_size)
        self.num_patches = (img_size // patch_size) ** 2
        self.norm = nn.LayerNorm(embed_dim)
        kt, st, pt = (3, 2, 1) if temporal_downsample else (1, 1, 0)
        self.proj = nn.Conv3d(in_chans, embed_dim, (kt, patch_size, patch_size),
                              (st, patch_size, patch_size), (pt, 0, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        # LayerNorm works on the last axis: move channels there and back.
        return self.norm(x.permute(0, 2, 3, 4, 1)).permute(0, 4, 1, 2, 3).contiguous()


@MODELS.register
class UniFormer(nn.Module):
    """UniFormer backbone: (B, 3, T, H, W) -> (B, embed_dim[3], T/2, H/32, W/32).

    ``with_cp`` (a kinetix addition; MMAction2's UniFormer has none) recomputes each block's
    activations in the backward pass to save memory.
    """

    def __init__(self, depth: Sequence[int] = (5, 8, 20, 7), img_size: int = 224,
                 in_chans: int = 3, embed_dim: Sequence[int] = (64, 128, 320, 512),
                 head_dim: int = 64, mlp_ratio: float = 4.0, qkv_bias: bool = True,
                 qk_scale: float | None = None, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.0,
                 pretrained2d: bool = True, pretrained: str | None = None,
                 with_cp: bool = False, init_cfg: dict | list | None = None) -> None:
        super().__init__()
        for name, value in (("depth", depth), ("embed_dim", embed_dim)):
            if not isinstance(value, (list, tuple)) or len(value) != 4:
                raise ConfigError(f"model.backbone.{name}: expected 4 values (one per stage), "
                                  f"got {value!r}")
        if head_dim < 1:
            raise ConfigError(f"model.backbone.head_dim: {head_dim} must be positive")
        self.depth, self.embed_dim, self.head_dim = list(depth), list(embed_dim), head_dim
        self.pretrained, self.pretrained2d, self.with_cp = pretrained, pretrained2d, with_cp
        self.init_cfg = init_cfg
        self.patch_embed1 = PatchEmbed(img_size, 4, in_chans, embed_dim[0],
                                       temporal_downsample=True)
        self.patch_embed2 = PatchEmbed(img_size // 4, 2, embed_dim[0], embed_dim[1])
        self.patch_embed3 = PatchEmbed(img_size // 8, 2, embed_dim[1], embed_dim[2])
        self.patch_embed4 = PatchEmbed(img_size // 16, 2, embed_dim[2], embed_dim[3])
        self.pos_drop = nn.Dropout(p=drop_rate)
        # Stochastic depth grows linearly over all blocks (torch.linspace's values, in Python
        # so that building on the meta device needs no tensor reads).
        total = sum(depth)
        dpr = [drop_path_rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]
        start = [sum(depth[:s]) for s in range(4)]
        for s in range(4):
            dim, rates = embed_dim[s], dpr[start[s]:start[s] + depth[s]]
            if s < 2:
                blocks = [CBlock(dim, mlp_ratio, drop_rate, r) for r in rates]
            else:
                blocks = [SABlock(dim, dim // head_dim, mlp_ratio, qkv_bias, qk_scale, drop_rate,
                                  attn_drop_rate, r) for r in rates]
            self.add_module(f"blocks{s + 1}", nn.ModuleList(blocks))
        self.norm = nn.BatchNorm3d(embed_dim[-1])
        self.init_from_scratch()

    def init_from_scratch(self) -> None:
        """MMAction2's init_cfg: truncated-normal linears (std 0.02, +-2), unit LayerNorms;
        convolutions and batch norms keep PyTorch's defaults."""
        init_linear_and_norm(self)

    def init_weights(self) -> None:
        path = PRETRAINED_2D.get(self.pretrained, self.pretrained)
        if pretrained_path(path) is None:
            return
        state = read_state_dict(path)
        own = self.state_dict()
        if self.pretrained2d:
            state = inflate_2d_state_dict(state, {k: v.shape for k, v in own.items()})
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not usable:
            raise CheckpointError(f"model.backbone.pretrained: no tensor of {path!r} fits "
                                  f"UniFormer (expected names like 'patch_embed1.proj.weight')")
        self.load_state_dict(usable, strict=False)
        # A batch-norm step counter is no weight: checkpoints may lack it without loss.
        missing = sorted(k for k in set(own) - set(usable) if not k.endswith("num_batches_tracked"))
        if missing:
            shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
            warnings.warn(f"model.backbone.pretrained: loaded {len(usable)}/{len(own)} tensors "
                          f"from {path!r}; not loaded: {shown}", stacklevel=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos_drop(self.patch_embed1(x))
        for s in range(1, 5):
            if s > 1:
                x = getattr(self, f"patch_embed{s}")(x)
            for blk in getattr(self, f"blocks{s}"):
                if self.with_cp and self.training and x.requires_grad:
                    x = cp.checkpoint(blk, x, use_reentrant=False)
                else:
                    x = blk(x)
        return self.norm(x)


def inflate_2d_state_dict(state: dict[str, torch.Tensor],
                          target_shapes: dict[str, torch.Size]) -> dict[str, torch.Tensor]:
    """A 2D UniFormer state dict made loadable into a 3D one (``target_shapes``: the 3D
    model's parameter shapes), as MMAction2's ``pretrained2d`` does: a 2D kernel
    (O, I, h, w) whose 3D counterpart is (O, I, t, h, w) becomes zeros over time but for the
    middle frame, which holds the 2D kernel (so each clip frame first sees itself only).
    Other tensors whose shapes differ (classifier, 1-2D) are dropped; keys the 3D model lacks
    are kept (a non-strict load ignores them)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        shape = target_shapes.get(key)
        if shape is None or tuple(shape) == tuple(value.shape):
            out[key] = value
            continue
        if len(shape) == 5 and value.dim() == 4 and \
                tuple(shape[:2]) + tuple(shape[3:]) == tuple(value.shape):
            inflated = value.new_zeros(tuple(shape))
            inflated[:, :, shape[2] // 2] = value
            out[key] = inflated
        else:
            warnings.warn(f"model.backbone.pretrained: {key} has shape {tuple(value.shape)}, "
                          f"the model {tuple(shape)}; not loaded", stacklevel=2)
    return out


def select_head_channels(state: dict[str, torch.Tensor],
                         channels: Sequence[int]) -> dict[str, torch.Tensor]:
    """Keep the rows ``channels`` of every classifier tensor (e.g. the Kinetics-400 classes
    of a Kinetics-710 head)."""
    index = torch.as_tensor(list(channels), dtype=torch.long)
    return {k: v.index_select(0, index) for k, v in state.items()}


@MODELS.register
class UniFormerHead(BaseHead):
    """Dropout and ``fc_cls`` on pooled ``(N, in_channels)`` features. With
    ``init_cfg=dict(type='Pretrained', checkpoint=...)``, ``init_weights`` loads the
    checkpoint's ``cls_head.*`` rows listed in ``channel_map`` (a JSON list of class
    indices), to fine-tune a Kinetics-710 head on one of its subsets."""

    def __init__(self, num_classes: int, in_channels: int,
                 loss_cls: nn.Module | dict | None = None, dropout_ratio: float = 0.0,
                 channel_map: str | None = None,
                 init_cfg: dict | None = dict(type="TruncNormal", layer="Linear", std=0.02),
                 average_clips: str | None = None, multi_class: bool = False,
                 label_smooth_eps: float = 0.0, topk: Sequence[int] = (1, 5)) -> None:
        super().__init__(num_classes, in_channels, loss_cls, multi_class, label_smooth_eps, topk,
                         average_clips, init_cfg)
        self.channel_map = channel_map
        std = init_cfg.get("std", 0.02) if isinstance(init_cfg, dict) else 0.02
        self._add_classifier(dropout_ratio, std, truncated=True)

    def init_weights(self) -> None:
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get("type") == "Pretrained"):
            return
        key = "model.cls_head.init_cfg.checkpoint"
        if self.channel_map is None:
            raise ConfigError("model.cls_head.channel_map: loading cls_head weights from a "
                              "checkpoint needs a channel map file")
        try:
            with open(self.channel_map, encoding="utf-8") as f:
                channels = json.load(f)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"model.cls_head.channel_map: cannot read {self.channel_map!r} "
                              f"as a JSON list: {exc}") from None
        state = {k[len("cls_head."):]: v for k, v in read_state_dict(cfg["checkpoint"], key).items()
                 if k.startswith("cls_head.")}
        if not state:
            raise CheckpointError(f"{key}: {cfg['checkpoint']!r} has no 'cls_head.' tensors")
        self.load_state_dict(select_head_channels(state, channels), strict=False)

    def forward(self, x: torch.Tensor, num_segs: int | None = None) -> torch.Tensor:
        # Features come pooled, (N, C); a (N, C, 1, 1, 1) map is accepted too.
        x = x.flatten(1)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc_cls(x)
