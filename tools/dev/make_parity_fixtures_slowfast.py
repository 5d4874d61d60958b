"""Parity fixtures for SlowFast, SlowOnly and non-local blocks, made by MMAction2 1.2.0.

Run with the MMAction2 venv's Python, from the repository root::

    /work/mmaction2-venv/bin/python tools/dev/make_parity_fixtures_slowfast.py

For each family in FAMILIES it builds MMAction2's backbone and head, fills every
state-dict tensor with ``fill`` (a fixed formula, no random numbers, so no weights need
committing), and stores the keys, shapes and fp32 eval scores on ``make_input``'s input
in tests/fixtures/parity/slowfast_slowonly_nonlocal.pt. tests/models/test_parity_slowfast.py
builds kinetix's model from the same configs, fills it the same way and compares.
This file must stay importable without MMAction2 (the test imports FAMILIES, fill, make_input).
"""

from __future__ import annotations

import copy
import math
import zlib
from pathlib import Path

import torch

FIXTURE = Path(__file__).resolve().parents[2] / "tests/fixtures/parity/slowfast_slowonly_nonlocal.pt"
NUM_CLASSES = 7


def _nl(mode: str, **extra) -> dict:
    return dict(mode=mode, **extra)


_NL_I3D = ((0, 0, 0), (0, 1, 0, 1), (0, 1, 0, 1, 0, 1), (0, 0, 0))
_NL_SLOW = ((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0))
_BN3D = dict(type="BN3d", requires_grad=True)


def _slowfast(**slow_extra) -> dict:
    return dict(type="ResNet3dSlowFast", pretrained=None, resample_rate=4, speed_ratio=4,
                channel_ratio=4,
                slow_pathway=dict(type="resnet3d", depth=50, pretrained=None, lateral=True,
                                  base_channels=16, conv1_kernel=(1, 7, 7), dilations=(1, 1, 1, 1),
                                  conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1),
                                  norm_eval=False, **slow_extra),
                fast_pathway=dict(type="resnet3d", depth=50, pretrained=None, lateral=False,
                                  base_channels=4, conv1_kernel=(5, 7, 7), conv1_stride_t=1,
                                  pool1_stride_t=1, norm_eval=False))


def _head3d(type_: str, in_channels: int) -> dict:
    return dict(type=type_, num_classes=NUM_CLASSES, in_channels=in_channels, spatial_type="avg",
                dropout_ratio=0.5, average_clips="prob")


# name -> (backbone cfg, head cfg, input shape (N, C, T, H, W) or (N*T, C, H, W) for TSM)
FAMILIES: dict[str, tuple[dict, dict, tuple[int, ...]]] = {
    "slowfast_r50": (_slowfast(), _head3d("SlowFastHead", 512 + 128), (2, 3, 16, 32, 32)),
    "slowfast_r50_lateral_norm": (_slowfast(lateral_norm=True), _head3d("SlowFastHead", 640),
                                  (1, 3, 16, 32, 32)),
    "slowfast_r18": (
        dict(type="ResNet3dSlowFast", resample_rate=8, speed_ratio=8, channel_ratio=8,
             slow_pathway=dict(type="resnet3d", depth=18, lateral=True, base_channels=16,
                               conv1_kernel=(1, 7, 7), inflate=(0, 0, 1, 1)),
             fast_pathway=dict(type="resnet3d", depth=18, lateral=False, base_channels=2,
                               conv1_kernel=(5, 7, 7))),
        _head3d("SlowFastHead", 128 + 16), (1, 3, 16, 32, 32)),
    "slowonly_r50": (
        dict(type="ResNet3dSlowOnly", depth=50, base_channels=8, pretrained=None, lateral=False,
             conv1_kernel=(1, 7, 7), conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1),
             norm_eval=False),
        _head3d("I3DHead", 256), (2, 3, 4, 32, 32)),
    "slowonly_r50_nl_embedded_gaussian": (
        dict(type="ResNet3dSlowOnly", depth=50, base_channels=8, lateral=False,
             non_local=_NL_SLOW,
             non_local_cfg=_nl("embedded_gaussian", sub_sample=True, use_scale=True,
                               norm_cfg=_BN3D)),
        _head3d("I3DHead", 256), (1, 3, 4, 32, 32)),
    "i3d_r50_nl_dot_product": (
        dict(type="ResNet3d", depth=50, base_channels=8, pretrained2d=True, pretrained=None,
             conv1_kernel=(5, 7, 7), conv1_stride_t=2, pool1_stride_t=2,
             inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0)),
             zero_init_residual=False, non_local=_NL_I3D,
             non_local_cfg=_nl("dot_product", sub_sample=True, use_scale=False, norm_cfg=_BN3D)),
        _head3d("I3DHead", 256), (1, 3, 8, 32, 32)),
    "i3d_r50_nl_gaussian": (
        dict(type="ResNet3d", depth=50, base_channels=8, conv1_kernel=(5, 7, 7),
             conv1_stride_t=2, pool1_stride_t=2, non_local=_NL_I3D,
             non_local_cfg=_nl("gaussian", sub_sample=True, use_scale=False, norm_cfg=_BN3D)),
        _head3d("I3DHead", 256), (1, 3, 8, 32, 32)),
    "i3d_r50_nl_concatenation": (
        dict(type="ResNet3d", depth=50, base_channels=8, non_local=_NL_I3D,
             non_local_cfg=_nl("concatenation", sub_sample=False, reduction=4)),
        _head3d("I3DHead", 256), (1, 3, 4, 16, 16)),
    "tsm_r50_nl_embedded_gaussian": (
        dict(type="ResNetTSM", depth=50, num_segments=4, norm_eval=False, shift_div=8,
             non_local=((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0)),
             non_local_cfg=_nl("embedded_gaussian", sub_sample=True, use_scale=True,
                               norm_cfg=_BN3D)),
        dict(type="TSMHead", num_classes=NUM_CLASSES, in_channels=2048, num_segments=4,
             spatial_type="avg", dropout_ratio=0.5, is_shift=True, average_clips="prob"),
        (8, 3, 32, 32)),
}


def fill(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Deterministic, well-scaled values for every float tensor (same on any machine)."""
    out = {}
    for i, (key, value) in enumerate(sorted(state.items())):
        if not value.is_floating_point():
            out[key] = value.clone()
            continue
        wave = torch.sin(torch.arange(value.numel(), dtype=torch.float64) * 0.6180339 + 1.3 * i)
        wave = wave.reshape(value.shape)
        if value.dim() > 1:  # conv / linear weight: He-like scale keeps activations bounded
            fan_in = value[0].numel()
            new = wave * (2.0 / math.sqrt(fan_in))
            if "non_local_block" in key:  # dot-product attention has no softmax to tame it
                new = new * 0.1
        elif key.endswith("running_var"):
            new = 1.0 + 0.5 * wave.abs()
        elif key.endswith("weight"):  # norm gamma
            new = 1.0 + 0.2 * wave
            if ".branch_" in key:  # MobileOne adds up to 3 branches per block, 42 blocks deep: keep scores O(1)
                new = new * 0.4
        else:  # biases, running means
            new = 0.1 * wave
        out[key] = new.to(value.dtype)
    return out


def pack_keys(state: dict[str, torch.Tensor]) -> bytes:
    """State-dict names and shapes, in order, zlib-compressed (keeps the fixture small)."""
    text = "\n".join(f"{k} {tuple(v.shape)}" for k, v in state.items())
    return zlib.compress(text.encode())


def unpack_keys(packed: bytes) -> list[str]:
    return zlib.decompress(packed).decode().split("\n")


def make_input(shape: tuple[int, ...]) -> torch.Tensor:
    n = math.prod(shape)
    return torch.sin(torch.arange(n, dtype=torch.float64) * 0.377).reshape(shape).float()


def scores(backbone: torch.nn.Module, head: torch.nn.Module, x: torch.Tensor, num_segs: int) -> torch.Tensor:
    with torch.no_grad():
        feats = backbone(x)
        # MMAction2's 3D heads take the features alone; its TSMHead also the segment count.
        return head(feats, num_segs) if type(head).__name__ == "TSMHead" else head(feats)


def main() -> None:
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules

    register_all_modules()
    fixture = {}
    for name, (backbone_cfg, head_cfg, shape) in FAMILIES.items():
        torch.manual_seed(0)
        backbone = MODELS.build(copy.deepcopy(backbone_cfg))
        head = MODELS.build(copy.deepcopy(head_cfg))
        for module in (backbone, head):
            module.load_state_dict(fill(module.state_dict()), strict=True)
            module.eval()  # MMAction2's ResNet3d.train() returns None: no chaining
        num_segs = shape[0] // 2 if len(shape) == 4 else 1
        logits = scores(backbone, head, make_input(shape), num_segs)
        fixture[name] = dict(backbone_keys=pack_keys(backbone.state_dict()),
                             head_keys=pack_keys(head.state_dict()), logits=logits)
        print(f"{name}: {len(backbone.state_dict())} backbone tensors, logits "
              f"{tuple(logits.shape)}, |max| {logits.abs().max():.3f}, std {logits.std():.3f}")
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fixture, FIXTURE)
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
