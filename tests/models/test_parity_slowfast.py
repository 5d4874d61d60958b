"""SlowFast, SlowOnly and non-local blocks give MMAction2 1.2.0's scores, key for key.

The fixture (made by tools/dev/make_parity_fixtures_slowfast.py with MMAction2 itself)
holds each family's state-dict names and shapes and its fp32 eval scores on a fixed
input, with every tensor set by a fixed formula. Same names and shapes means a
checkpoint loads strict=True either way; same scores means the same computation.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.registry import MODELS, build

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "make_parity_fixtures_slowfast", ROOT / "tools/dev/make_parity_fixtures_slowfast.py")
maker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(maker)

EXPECTED = torch.load(maker.FIXTURE, weights_only=True)


def test_fixture_covers_every_family() -> None:
    assert set(EXPECTED) == set(maker.FAMILIES)


@pytest.mark.parametrize("name", sorted(maker.FAMILIES))
def test_same_keys_and_scores_as_mmaction2(name: str) -> None:
    backbone_cfg, head_cfg, shape = maker.FAMILIES[name]
    expected = EXPECTED[name]
    torch.manual_seed(0)
    backbone = build(copy.deepcopy(backbone_cfg), MODELS, "model.backbone")
    head = build(copy.deepcopy(head_cfg), MODELS, "model.cls_head")
    for module, key in ((backbone, "backbone_keys"), (head, "head_keys")):
        assert maker.unpack_keys(maker.pack_keys(module.state_dict())) == \
            maker.unpack_keys(expected[key])
        module.load_state_dict(maker.fill(module.state_dict()), strict=True)
        module.eval()
    num_segs = shape[0] // 2 if len(shape) == 4 else 1
    logits = maker.scores(backbone, head, maker.make_input(shape), num_segs)
    assert logits.shape == expected["logits"].shape
    assert (logits - expected["logits"]).abs().max().item() <= 1e-4


@pytest.mark.parametrize("path, millions", [
    ("slowfast/slowfast_r50_8xb8-4x16x1-256e_kinetics400-rgb.py", 34.48),
    ("slowonly/slowonly_r50_8xb16-4x16x1-256e_kinetics400-rgb.py", 32.45),
    ("i3d/i3d_imagenet-pretrained-r50-nl-dot-product_8xb8-32x2x1-100e_kinetics400-rgb.py", 35.4),
    ("i3d/i3d_imagenet-pretrained-r50-nl-embedded-gaussian_8xb8-32x2x1-100e_kinetics400-rgb.py",
     35.4),
    ("i3d/i3d_imagenet-pretrained-r50-nl-gaussian_8xb8-32x2x1-100e_kinetics400-rgb.py", 31.72),
])
def test_kinetics_config_size_matches_mmaction2_model_zoo(path: str, millions: float) -> None:
    from kinetix.config import load_config

    # Sizes from MMAction2 1.2.0's metafile.yml ("Parameters"; it rounds 34.48M to 34.5M and
    # 31.72M to 31.7M).
    model = build(load_config(ROOT / "configs/recognition" / path)["model"], MODELS, "model")
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == millions
