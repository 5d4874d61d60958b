"""Write tests/fixtures/models/zoo3d_parity.json: MMAction2 1.2.0's logits for the 3D families
(ResNet3dCSN, ResNet2Plus1d, C3D, C2D, X3D) at small widths.

Run with MMAction2's interpreter (its venv, not kinetix's)::

    /work/mmaction2-venv/bin/python tools/dev/make_fixtures_3d.py

Weights and inputs are not stored: both sides draw them from seeded generators
(``fill_weights``, ``make_input``; tests/models/test_zoo3d_parity.py imports them
from this file), so the fixture holds only a digest of the state-dict names and
shapes and the expected logits.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zlib
from pathlib import Path

import torch

FIXTURE = Path(__file__).resolve().parents[2] / "tests/fixtures/models/zoo3d_parity.json"


def _i3d_head(in_channels: int, **extra) -> dict:
    return dict(type="I3DHead", num_classes=7, in_channels=in_channels, spatial_type="avg",
                dropout_ratio=0.5, init_std=0.01, average_clips="prob", **extra)


def _rec(backbone: dict, head: dict) -> dict:
    return dict(type="Recognizer3D", backbone=backbone, cls_head=head)


# name -> (recognizer config, input shape); the backbones follow MMAction2's configs, narrowed.
CASES: dict[str, tuple[dict, tuple[int, ...]]] = {
    "ircsn_r50": (_rec(dict(type="ResNet3dCSN", pretrained2d=False, pretrained=None, depth=50,
                            base_channels=8, with_pool2=False, bottleneck_mode="ir",
                            norm_eval=False, zero_init_residual=False), _i3d_head(256)),
                  (2, 3, 8, 32, 32)),
    "ipcsn_r50_bn_frozen": (_rec(dict(type="ResNet3dCSN", pretrained2d=False, pretrained=None,
                                      depth=50, base_channels=8, with_pool2=False,
                                      bottleneck_mode="ip", norm_eval=True, bn_frozen=True,
                                      zero_init_residual=False), _i3d_head(256)),
                            (2, 3, 8, 32, 32)),
    "r2plus1d_r34": (_rec(dict(type="ResNet2Plus1d", depth=34, pretrained=None,
                               pretrained2d=False, norm_eval=False, base_channels=8,
                               conv_cfg=dict(type="Conv2plus1d"),
                               norm_cfg=dict(type="SyncBN", requires_grad=True, eps=1e-3),
                               conv1_kernel=(3, 7, 7), conv1_stride_t=1, pool1_stride_t=1,
                               inflate=(1, 1, 1, 1), spatial_strides=(1, 2, 2, 2),
                               temporal_strides=(1, 2, 2, 2), zero_init_residual=False),
                          _i3d_head(64)),
                     (2, 3, 8, 32, 32)),
    # C3D's widths are fixed; a 16x32x32 clip leaves 512x1x2x2 = 2048 features after pool5.
    "c3d": (_rec(dict(type="C3D", pretrained=None, style="pytorch",
                      conv_cfg=dict(type="Conv3d"), norm_cfg=None, act_cfg=dict(type="ReLU"),
                      dropout_ratio=0.5, init_std=0.005, out_dim=2048),
                 dict(type="I3DHead", num_classes=7, in_channels=4096, spatial_type=None,
                      dropout_ratio=0.5, init_std=0.01, average_clips="prob")),
            (1, 3, 16, 32, 32)),
    # MMAction2's C2D stem is 64 wide whatever the ResNet's width, so C2D stays full width.
    "c2d_r18": (_rec(dict(type="C2D", depth=18, pretrained=None, norm_eval=False),
                     _i3d_head(512)),
                (2, 3, 8, 32, 32)),
    "x3d_s": (_rec(dict(type="X3D", gamma_w=1, gamma_b=2.25, gamma_d=2.2),
                   dict(type="X3DHead", in_channels=432, num_classes=7, spatial_type="avg",
                        dropout_ratio=0.5, fc1_bias=False, average_clips="prob")),
              (2, 3, 4, 32, 32)),
    "x3d_se_all_3stages": (_rec(dict(type="X3D", gamma_w=0.5, gamma_b=1.5, gamma_d=1.0,
                                     se_style="all", num_stages=3, spatial_strides=(2, 2, 1)),
                                dict(type="X3DHead", in_channels=96, num_classes=7,
                                     spatial_type="max", dropout_ratio=0.0, fc1_bias=True)),
                           (2, 3, 4, 32, 32)),
}


def fill_weights(state: dict[str, torch.Tensor]) -> None:
    """Overwrite every float tensor in place with seeded values (per name, so the order of
    keys does not matter) scaled to keep activations near unit size through deep stacks."""
    for name, value in state.items():
        if not value.is_floating_point():
            continue
        gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        if name.endswith("running_var"):
            new = torch.rand(value.shape, generator=gen) + 0.5
        elif value.dim() > 1:  # conv / linear weights: 1 / sqrt(fan_in)
            new = torch.randn(value.shape, generator=gen) / value[0].numel() ** 0.5
        elif name.endswith("weight"):  # norm scales
            new = 0.5 + 0.1 * torch.randn(value.shape, generator=gen)
        else:  # biases, running means
            new = 0.1 * torch.randn(value.shape, generator=gen)
        value.copy_(new)


def make_input(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(1))


def key_digest(state: dict[str, torch.Tensor]) -> str:
    listing = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in sorted(state.items()))
    return hashlib.sha256(listing.encode()).hexdigest()


def scores(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """fp32 eval logits: backbone then head, the same call on both sides."""
    model.eval()
    with torch.no_grad():
        return model.cls_head(model.backbone(x))


def main() -> None:
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules

    register_all_modules()
    out = {}
    for name, (cfg, shape) in CASES.items():
        model = MODELS.build(cfg)
        state = model.state_dict()  # shares storage with the model
        fill_weights(state)
        out[name] = {"num_keys": len(state), "key_digest": key_digest(state),
                     "input_shape": list(shape),
                     "logits": scores(model, make_input(shape)).tolist()}
        print(name, len(state), "keys", file=sys.stderr)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {FIXTURE}", file=sys.stderr)


if __name__ == "__main__":
    main()
