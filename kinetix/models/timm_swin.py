"""timm's 2D Swin Transformer (timm >= 0.9 layout), for MMAction2's ``timm.swin_*`` backbones.

MMAction2 builds ``type='timm.NAME'`` with ``timm.create_model(NAME, num_classes=0, ...)`` and
feeds the TSN head the pooled output of ``forward_features``. This module rebuilds that model
without timm (timm needs torchvision), with timm's parameter names so its checkpoints load:
``patch_embed.{proj,norm}``, ``layers.S.downsample.{norm,reduction}`` (S >= 1: timm 0.9 merges
patches at the *start* of a stage), ``layers.S.blocks.B.{norm1,attn.qkv,attn.proj,
attn.relative_position_bias_table,norm2,mlp.fc1,mlp.fc2}`` and ``norm``. With
``num_classes=0`` timm's head has no parameters, so there is none here.

``forward`` returns ``(N, H, W, C)`` tokens like timm's ``forward_features``; the backbone's
``feature_shape`` (``'NHWC'`` unless the config says otherwise) tells the recognizer how to
pool them (see ``kinetix.models.recognizers``).
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import nn

from kinetix.errors import CheckpointError, ConfigError
from kinetix.models.layers import DropPath
from kinetix.models.pretrained import read_raw_state_dict
from kinetix.registry import MODELS

_KEY = "model.backbone"
FEATURE_SHAPES = ("NHWC", "NCHW", "NLC")

# timm's registered variants: (embed_dim, depths, num_heads); patch 4, window 7, 224 px.
ARCHS: dict[str, tuple[int, tuple[int, ...], tuple[int, ...]]] = {
    "swin_tiny_patch4_window7_224": (96, (2, 2, 6, 2), (3, 6, 12, 24)),
    "swin_small_patch4_window7_224": (96, (2, 2, 18, 2), (3, 6, 12, 24)),
    "swin_base_patch4_window7_224": (128, (2, 2, 18, 2), (4, 8, 16, 32)),
}


def _windows(x: torch.Tensor, win: tuple[int, int]) -> torch.Tensor:
    """(B, H, W, C) -> (B * windows, wh * ww, C), windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // win[0], win[0], w // win[1], win[1], c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, win[0] * win[1], c)


def _unwindows(x: torch.Tensor, win: tuple[int, int], h: int, w: int) -> torch.Tensor:
    c = x.shape[-1]
    x = x.view(-1, h // win[0], w // win[1], win[0], win[1], c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, h, w, c)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a window, plus a learnt bias per relative offset."""

    def __init__(self, dim: int, num_heads: int, window: tuple[int, int], qkv_bias: bool,
                 attn_drop: float, proj_drop: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        wh, ww = window
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * wh - 1) * (2 * ww - 1), num_heads))
        # Offset (dy, dx) of token j from token i, as one index into the table; not saved
        # (timm keeps it out of the state dict).
        ys, xs = torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")
        coords = torch.stack((ys.flatten(), xs.flatten()))
        rel = coords[:, :, None] - coords[:, None, :]
        index = (rel[0] + wh - 1) * (2 * ww - 1) + rel[1] + ww - 1
        self.register_buffer("relative_position_index", index, persistent=False)
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:   # (windows, n, n): 0 inside a region, -100 across regions
            windows = mask.shape[0]
            attn = attn.view(-1, windows, self.num_heads, n, n) + mask[None, :, None]
            attn = attn.view(-1, self.num_heads, n, n)
        attn = self.attn_drop(attn.softmax(dim=-1))
        return self.proj_drop(self.proj((attn @ v).transpose(1, 2).reshape(b, n, c)))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class SwinBlock(nn.Module):
    """(Shifted-)window attention and an MLP, each pre-normed and residual, on (B, H, W, C)."""

    def __init__(self, dim: int, resolution: tuple[int, int], num_heads: int, window: int,
                 shift: int, mlp_ratio: float, qkv_bias: bool, proj_drop: float,
                 attn_drop: float, drop_path: float) -> None:
        super().__init__()
        # A map no larger than the window is one window, never shifted (as timm).
        self.window = tuple(min(r, window) for r in resolution)
        self.shift = tuple(0 if r <= window else shift for r in resolution)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, num_heads, self.window, qkv_bias, attn_drop, proj_drop)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), proj_drop)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.register_buffer("attn_mask", self._mask(resolution), persistent=False)

    def _mask(self, resolution: tuple[int, int]) -> torch.Tensor | None:
        """Label the regions a cyclic shift glues together; tokens of different regions in one
        window must not attend to each other."""
        if not any(self.shift):
            return None
        (wh, ww), (sh, sw) = self.window, self.shift
        h = -(-resolution[0] // wh) * wh
        w = -(-resolution[1] // ww) * ww
        labels = torch.zeros((1, h, w, 1))
        bounds_h = (slice(0, -wh), slice(-wh, -sh), slice(-sh, None))
        bounds_w = (slice(0, -ww), slice(-ww, -sw), slice(-sw, None))
        for i, sl_h in enumerate(bounds_h):
            for j, sl_w in enumerate(bounds_w):
                labels[:, sl_h, sl_w, :] = i * 3 + j
        windows = _windows(labels, self.window).squeeze(-1)
        diff = windows.unsqueeze(1) - windows.unsqueeze(2)
        return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        _, h, w, c = x.shape
        if any(self.shift):
            x = torch.roll(x, shifts=(-self.shift[0], -self.shift[1]), dims=(1, 2))
        pad_h = (self.window[0] - h % self.window[0]) % self.window[0]
        pad_w = (self.window[1] - w % self.window[1]) % self.window[1]
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        out = self.attn(_windows(x, self.window), self.attn_mask)
        x = _unwindows(out, self.window, h + pad_h, w + pad_w)[:, :h, :w, :].contiguous()
        if any(self.shift):
            x = torch.roll(x, shifts=self.shift, dims=(1, 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self._attend(self.norm1(x)))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2x2 neighbours -> one token: concatenate (in timm's order), norm, project to ``out_dim``."""

    def __init__(self, dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        if h % 2 or w % 2:
            raise ValueError(f"{_KEY}: patch merging needs an even token map, got {h}x{w}")
        # Order within a 2x2 group: (0,0), (1,0), (0,1), (1,1) as (row, column).
        x = x.reshape(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 4, 2, 5).flatten(3)
        return self.reduction(self.norm(x))


class SwinStage(nn.Module):
    def __init__(self, dim: int, out_dim: int, resolution: tuple[int, int], depth: int,
                 downsample: bool, num_heads: int, window: int, mlp_ratio: float,
                 qkv_bias: bool, proj_drop: float, attn_drop: float,
                 drop_path: list[float]) -> None:
        super().__init__()
        self.downsample = PatchMerging(dim, out_dim) if downsample else nn.Identity()
        if downsample:
            resolution = (resolution[0] // 2, resolution[1] // 2)
        self.blocks = nn.Sequential(*[
            SwinBlock(out_dim, resolution, num_heads, window, 0 if i % 2 == 0 else window // 2,
                      mlp_ratio, qkv_bias, proj_drop, attn_drop, drop_path[i])
            for i in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class PatchEmbed(nn.Module):
    def __init__(self, img_size: int, patch_size: int, in_chans: int, dim: int) -> None:
        super().__init__()
        self.img_size = img_size
        self.proj = nn.Conv2d(in_chans, dim, patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != (self.img_size, self.img_size):
            raise ValueError(f"{_KEY}: this Swin takes {self.img_size}x{self.img_size} frames "
                             f"(img_size), got {tuple(x.shape[-2:])}; crop them to that size")
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class TimmSwinTransformer(nn.Module):
    """timm's ``SwinTransformer`` without its (empty, ``num_classes=0``) head.

    ``pretrained``: False, a path/URL of a timm checkpoint, or True (timm's download from the
    Hugging Face hub, which kinetix does not do: :meth:`init_weights` then says so).
    """

    backbone_from = "timm"   # the recognizer pools its map by ``feature_shape`` (recognizers.py)

    def __init__(self, name: str = "swin", pretrained: bool | str = False, num_classes: int = 0,
                 img_size: int = 224, patch_size: int = 4, in_chans: int = 3,
                 embed_dim: int = 96, depths: tuple[int, ...] = (2, 2, 6, 2),
                 num_heads: tuple[int, ...] = (3, 6, 12, 24), window_size: int = 7,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, drop_rate: float = 0.0,
                 proj_drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.1, global_pool: str = "avg",
                 feature_shape: str | None = None) -> None:
        super().__init__()
        if num_classes != 0:
            raise ConfigError(f"{_KEY}.num_classes: must be 0 (the recognizer's head classifies), "
                              f"got {num_classes}")
        if len(depths) != len(num_heads):
            raise ConfigError(f"{_KEY}: depths {tuple(depths)} and num_heads {tuple(num_heads)} "
                              f"need one entry per stage")
        if feature_shape is not None and feature_shape not in FEATURE_SHAPES:
            raise ConfigError(f"{_KEY}.feature_shape: expected one of {FEATURE_SHAPES}, "
                              f"got {feature_shape!r}")
        if not isinstance(pretrained, (bool, str)):
            raise ConfigError(f"{_KEY}.pretrained: expected True/False or a path, "
                              f"got {pretrained!r}")
        self.name = name
        self.pretrained = pretrained
        # timm >= 0.9 returns (N, H, W, C); MMAction2's guess from the rank (NCHW) would pool
        # over width and channels, so the layout defaults to the true one.
        self.feature_shape = feature_shape or "NHWC"
        del drop_rate, global_pool   # used only by timm's classifier head, absent here
        dims = [embed_dim * 2 ** i for i in range(len(depths))]
        self.num_features = dims[-1]
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, dims[0])
        # On the CPU, so that a build under a meta default device (FLOP counts) can read them.
        rates = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
        grid = (img_size // patch_size,) * 2
        stages, start = [], 0
        for i, depth in enumerate(depths):
            stages.append(SwinStage(dims[max(i - 1, 0)], dims[i], grid, depth, i > 0,
                                    num_heads[i], window_size, mlp_ratio, qkv_bias,
                                    proj_drop_rate, attn_drop_rate, rates[start:start + depth]))
            if i > 0:
                grid = (grid[0] // 2, grid[1] // 2)
            start += depth
        self.layers = nn.Sequential(*stages)
        self.norm = nn.LayerNorm(self.num_features)
        for module in self.modules():   # timm's default init: truncated-normal linears
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.layers(self.patch_embed(x)))

    def init_weights(self) -> None:
        if self.pretrained is False:
            return
        if self.pretrained is True:
            raise ConfigError(f"{_KEY}.pretrained: True means timm's download of "
                              f"{self.name!r} from the Hugging Face hub, which kinetix does not "
                              f"do; give a local path or URL of its checkpoint (or False)")
        state = read_raw_state_dict(self.pretrained, f"{_KEY}.pretrained")
        # timm drops its buffers and (with num_classes=0) the classifier when loading.
        state = {k: v for k, v in state.items() if not k.startswith("head.")
                 and not k.endswith(("relative_position_index", "attn_mask"))}
        own = self.state_dict()
        wrong = [k for k, v in state.items() if k in own and v.shape != own[k].shape]
        if wrong:
            raise CheckpointError(f"{_KEY}.pretrained: {self.pretrained!r} does not fit timm's "
                                  f"{self.name}: {wrong[0]} is {tuple(state[wrong[0]].shape)}, "
                                  f"expected {tuple(own[wrong[0]].shape)}")
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CheckpointError(f"{_KEY}.pretrained: {self.pretrained!r} does not fit timm's "
                                  f"{self.name}: missing {missing[:3]}, unexpected {unexpected[:3]}")


def _factory(name: str):
    embed_dim, depths, num_heads = ARCHS[name]

    def build(pretrained: bool | str = False, **kwargs) -> TimmSwinTransformer:
        """timm's variant (its embed_dim/depths/num_heads/window 7/224 px); kwargs override
        them as ``timm.create_model`` lets them."""
        args = dict(embed_dim=embed_dim, depths=depths, num_heads=num_heads, window_size=7,
                    patch_size=4, img_size=224)
        unknown = sorted(set(kwargs) - set(inspect.signature(TimmSwinTransformer).parameters))
        if unknown:
            raise ConfigError(f"{_KEY}.{unknown[0]}: timm.{name} takes no argument "
                              f"{unknown[0]!r}")
        args.update(kwargs)
        return TimmSwinTransformer(name=name, pretrained=pretrained, **args)

    build.__name__ = name
    return build


for _name in ARCHS:
    MODELS.register(_factory(_name), name=f"timm.{_name}")
