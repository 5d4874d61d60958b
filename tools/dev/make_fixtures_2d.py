"""Write the MMAction2 parity fixtures of the 2D families (TRN, TANet, mobile TSMs, ...).

Run with the MMAction2 1.2.0 venv (see tools/analysis_tools/make_mmaction2_venv.sh):

    /work/mmaction2-venv/bin/python tools/dev/make_fixtures_2d.py [--out tests/fixtures/zoo_2d]

MMAction2's backbones have no width knob, so the models are full width; to keep the
fixtures small they hold no weights. Both sides fill every state-dict entry with
``fill_state_dict`` (a function of the key, the shape and the seed only) and draw the
input with ``make_input``; a fixture keeps the key -> shape list and MMAction2's
eval scores (backbone, then head). tests/models/test_parity_2d.py imports this file
for FAMILIES, fill_state_dict and make_input, so both sides use one definition.
"""

from __future__ import annotations

import argparse
import zlib
from pathlib import Path

import numpy as np
import torch

SEED = 0
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def _recognizer(backbone: dict, head: dict) -> dict:
    return dict(type="Recognizer2D", backbone=backbone, cls_head=head,
                data_preprocessor=dict(type="ActionDataPreprocessor", mean=MEAN, std=STD,
                                       format_shape="NCHW"))


def _tpn(in_channels: tuple, out_channels: int, fused: int, aux_classes: int | None,
         temporal: tuple, flow_type: str = "cascade") -> dict:
    return dict(type="TPN", in_channels=in_channels, out_channels=out_channels,
                spatial_modulation_cfg=dict(in_channels=in_channels, out_channels=in_channels[-1]),
                temporal_modulation_cfg=dict(downsample_scales=temporal),
                upsample_cfg=dict(scale_factor=(1, 1, 1)),
                downsample_cfg=dict(downsample_scale=(1, 1, 1)),
                level_fusion_cfg=dict(in_channels=(out_channels, out_channels),
                                      mid_channels=(out_channels, out_channels),
                                      out_channels=fused,
                                      downsample_scales=((1, 1, 1), (1, 1, 1))),
                aux_head_cfg=None if aux_classes is None else dict(out_channels=aux_classes,
                                                                    loss_weight=0.5),
                flow_type=flow_type)


# name -> (model config, (batch, frames per sample, height, width))
FAMILIES: dict[str, tuple[dict, tuple[int, int, int, int]]] = {
    "trn_relation": (
        _recognizer(dict(type="ResNet", depth=18, pretrained=None),
                    dict(type="TRNHead", num_classes=7, in_channels=512, num_segments=4,
                         relation_type="TRN", hidden_dim=32, dropout_ratio=0.8)),
        (2, 4, 32, 32)),
    "trn_multiscale": (
        _recognizer(dict(type="ResNet", depth=18, pretrained=None),
                    dict(type="TRNHead", num_classes=7, in_channels=512, num_segments=8,
                         relation_type="TRNMultiScale", hidden_dim=32)),
        (2, 8, 32, 32)),
    "tanet_r50": (
        _recognizer(dict(type="TANet", depth=50, num_segments=4, pretrained=None,
                         tam_cfg=dict(adaptive_kernel_size=5, adaptive_convolution_padding=2,
                                      beta=8)),
                    dict(type="TSMHead", num_classes=7, in_channels=2048, num_segments=4,
                         average_clips="prob")),
        (2, 4, 32, 32)),
    "mobilenet_v2_tsm": (
        _recognizer(dict(type="MobileNetV2TSM", num_segments=4, shift_div=4, pretrained=None,
                         widen_factor=0.5, pretrained2d=False),
                    dict(type="TSMHead", num_classes=7, in_channels=1280, num_segments=4,
                         average_clips="prob")),
        (2, 4, 32, 32)),
    "mobilenet_v2_out_indices": (
        _recognizer(dict(type="MobileNetV2", widen_factor=1.5, out_indices=(6,)),
                    dict(type="TSNHead", num_classes=7, in_channels=480)),
        (1, 3, 32, 32)),
    "tpn_tsm_r18_fcn_test": (
        {**_recognizer(dict(type="ResNetTSM", depth=18, num_segments=8, out_indices=(2, 3),
                            pretrained=None),
                       dict(type="TPNHead", num_classes=7, in_channels=2048,
                            consensus=dict(type="AvgConsensus", dim=1), dropout_ratio=0.5)),
         "neck": _tpn((256, 512), 256, 512, aux_classes=7, temporal=(4, 4)),
         "test_cfg": dict(fcn_test=True)},
        (2, 8, 64, 64)),
    "tpn_tsm_r18_parallel": (
        {**_recognizer(dict(type="ResNetTSM", depth=18, num_segments=4, out_indices=(2, 3),
                            pretrained=None),
                       dict(type="TPNHead", num_classes=7, in_channels=2048)),
         "neck": _tpn((256, 512), 256, 512, aux_classes=None, temporal=(4, 4),
                      flow_type="parallel")},
        (1, 4, 64, 64)),
}


def fill_state_dict(state: dict[str, torch.Tensor], seed: int = SEED) -> dict[str, torch.Tensor]:
    """Deterministic values for every entry, from (seed, key, shape) alone.

    Scales keep a deep random network's activations in a sane range: weights ~
    N(0, 1/fan_in), norm scales near 1, running variances in [0.5, 1.5).
    """
    out = {}
    for key, value in state.items():
        if not value.is_floating_point():  # num_batches_tracked
            out[key] = value.clone()
            continue
        gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(key.encode()))
        shape = value.shape
        if key.endswith("running_var"):
            new = 0.5 + torch.rand(shape, generator=gen)
        elif key.endswith("running_mean") or value.dim() < 2 and not key.endswith("weight"):
            new = 0.1 * torch.randn(shape, generator=gen)
        elif value.dim() < 2:  # a norm's scale
            new = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            fan_in = value[0].numel()
            new = torch.randn(shape, generator=gen) / fan_in ** 0.5
        out[key] = new.to(value.dtype)
    return out


def make_input(shape: tuple[int, int, int, int], seed: int = SEED) -> torch.Tensor:
    """Normalised frames ``(batch * frames, 3, H, W)``."""
    b, t, h, w = shape
    return torch.randn((b * t, 3, h, w), generator=torch.Generator().manual_seed(seed))


def scores(model: torch.nn.Module, shape: tuple[int, int, int, int], seed: int = SEED) -> torch.Tensor:
    """Eval scores: backbone on all frames, then the head; NumPy seeded for TRN's sampling.

    With a neck, the recognizer's own test path (which folds frames into clips for
    the neck) is compared: MMAction2's ``extract_feat(stage='head', test_mode=True)``
    and kinetix's ``_scores(test_mode=True)``.
    """
    model.eval()
    np.random.seed(seed)
    x = make_input(shape, seed)
    with torch.no_grad():
        if getattr(model, "neck", None) is None:
            return model.cls_head(model.backbone(x), shape[1])
        clips = x.view(shape[0], shape[1], *x.shape[1:])
        if hasattr(model, "_scores"):  # kinetix
            return model._scores(clips, test_mode=True)[0]
        return model.extract_feat(clips, stage="head", test_mode=True)[0]


def _mmaction_model(cfg: dict) -> torch.nn.Module:
    import copy

    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules
    register_all_modules()
    return MODELS.build(copy.deepcopy(cfg))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="tests/fixtures/zoo_2d")
    parser.add_argument("names", nargs="*", help="families to write (default: all)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.names or FAMILIES:
        cfg, shape = FAMILIES[name]
        model = _mmaction_model(cfg)
        state = fill_state_dict(model.state_dict())
        model.load_state_dict(state, strict=True)
        fixture = {"shapes": {k: tuple(v.shape) for k, v in state.items()},
                   "scores": scores(model, shape), "input_shape": shape, "seed": SEED}
        torch.save(fixture, out / f"{name}.pt")
        print(f"{name}: {len(state)} keys, scores {tuple(fixture['scores'].shape)}, "
              f"max |score| {fixture['scores'].abs().max():.4g}")


if __name__ == "__main__":
    main()
