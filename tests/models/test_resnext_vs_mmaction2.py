"""ResNeXt (``mmcls.ResNeXt``) under TSN gives MMAction2's scores, with mmpretrain 1.2.0's
backbone, for the shipped config's ResNeXt-101 32x4d and for ResNeXt-50s with the options it
leaves off (caffe style, deep stem, average-pool downsampling, dilation, ``groups=1``).

Random states are loaded strictly both ways (MMAction2's into kinetix, kinetix's into
MMAction2); fp32, eval, 64 px. Training mode (frozen stages, ``norm_eval``) and
``init_weights`` (``zero_init_residual``) are compared by which tensors they freeze or zero.
MMAction2 runs in its own environment (subprocess; set ``KINETIX_MMACTION2_PYTHON``).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.registry import MODELS, build

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")
TOOLS = Path(__file__).resolve().parents[2] / "tools" / "dev"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MMACTION2_PYTHON,
                       reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed"),
]


def _tsn(in_channels: int, **backbone) -> dict:
    return dict(type="Recognizer2D", backbone=dict(type="mmcls.ResNeXt", **backbone),
                cls_head=dict(type="TSNHead", num_classes=7, in_channels=in_channels,
                              consensus=dict(type="AvgConsensus", dim=1), dropout_ratio=0.4,
                              average_clips="score"),
                data_preprocessor=dict(type="ActionDataPreprocessor",
                                       mean=[123.675, 116.28, 103.53],
                                       std=[58.395, 57.12, 57.375], format_shape="NCHW"))


CASES = {
    # the backbone of tsn_imagenet-pretrained-rn101-32x4d_8xb32-1x1x3-100e_kinetics400-rgb.py
    "rn101_32x4d": _tsn(2048, depth=101, num_stages=4, out_indices=(3,), groups=32,
                        width_per_group=4, style="pytorch"),
    "rn50_caffe_deep_stem_avg_down_frozen": _tsn(
        512, depth=50, groups=8, width_per_group=4, stem_channels=32, base_channels=16,
        style="caffe", deep_stem=True, avg_down=True, frozen_stages=2, norm_eval=True),
    "rn50_groups1_dilated_drop_path": _tsn(
        256, depth=50, groups=1, stem_channels=16, base_channels=8, strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2), frozen_stages=0, drop_path_rate=0.1),
}

MMACTION2_SIDE = textwrap.dedent("""
    import json, sys
    import torch
    sys.path.insert(0, sys.argv[1])
    import parity_driver
    from mmaction.registry import MODELS
    from mmaction.structures import ActionDataSample
    from mmaction.utils import register_all_modules

    parity_driver.install_mmpretrain_stand_in()
    register_all_modules()
    cases, kx, out = json.load(open(sys.argv[2])), torch.load(sys.argv[3]), {}
    for name, cfg in cases.items():
        torch.manual_seed(0)
        model = MODELS.build(cfg)
        model.train()
        frozen = sorted(n for n, p in model.named_parameters() if not p.requires_grad)
        training_norms = sorted(n for n, m in model.named_modules()
                                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training)
        model.backbone.init_weights()
        zeroed = sorted(n for n, t in model.backbone.state_dict().items()
                        if t.is_floating_point() and not t.any())
        model.eval()
        parity_driver.perturb(model, 1)
        inputs = kx[name]["inputs"]
        def scores():
            data = {"inputs": list(inputs), "data_samples": [ActionDataSample() for _ in inputs]}
            with torch.no_grad():
                return torch.stack([s.pred_score for s in model.test_step(data)])
        result = {"state": {k: v.clone() for k, v in model.state_dict().items()},
                  "scores": scores(), "frozen": frozen, "training_norms": training_norms,
                  "zeroed": zeroed}
        model.load_state_dict(kx[name]["state"], strict=True)
        result["kx_state_scores"] = scores()
        out[name] = result
    torch.save(out, sys.argv[4])
""")


def _scores(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model({"inputs": inputs}, mode="predict").float()


def test_resnext_tsn_matches_mmaction2(tmp_path: Path) -> None:
    models, kx = {}, {}
    gen = torch.Generator().manual_seed(3)
    for i, (name, cfg) in enumerate(CASES.items()):
        torch.manual_seed(0)
        model = build(copy.deepcopy(cfg), MODELS, "model").eval()
        # Random norms and biases: freshly built, batch norm is the identity.
        with torch.no_grad():
            for key, t in model.state_dict().items():
                if t.is_floating_point() and t.dim() == 1:
                    t.copy_(torch.rand(t.shape, generator=gen) * 0.5 + 0.75
                            if key.endswith(("var", "weight")) else torch.randn(t.shape, generator=gen) * 0.1)
        inputs = torch.randint(0, 256, (2, 2, 3, 64, 64), generator=gen, dtype=torch.uint8)
        models[name] = model
        kx[name] = {"state": model.state_dict(), "inputs": inputs, "scores": _scores(model, inputs)}
    (tmp_path / "cases.json").write_text(json.dumps(CASES))
    torch.save(kx, tmp_path / "kx.pt")
    (tmp_path / "side.py").write_text(MMACTION2_SIDE)
    proc = subprocess.run([MMACTION2_PYTHON, str(tmp_path / "side.py"), str(TOOLS),
                           str(tmp_path / "cases.json"), str(tmp_path / "kx.pt"),
                           str(tmp_path / "mm.pt")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mm = torch.load(tmp_path / "mm.pt")
    for name, model in models.items():
        theirs = mm[name]
        # kinetix's state in MMAction2's model (loaded strict there) scores as in kinetix
        assert (theirs["kx_state_scores"] - kx[name]["scores"]).abs().max() <= 1e-4, name
        # and MMAction2's state in kinetix's
        model.load_state_dict(theirs["state"], strict=True)
        scores = _scores(model, kx[name]["inputs"])
        assert scores.abs().max() > 0, name
        assert (scores - theirs["scores"]).abs().max() <= 1e-4 * max(1.0, theirs["scores"].abs().max()), name

        fresh = build(copy.deepcopy(CASES[name]), MODELS, "model")
        fresh.train()
        assert sorted(n for n, p in fresh.named_parameters() if not p.requires_grad) == theirs["frozen"], name
        assert sorted(n for n, m in fresh.named_modules()
                      if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.training) == \
            theirs["training_norms"], name
        fresh.backbone.init_weights()
        zeroed = sorted(n for n, t in fresh.backbone.state_dict().items()
                        if t.is_floating_point() and not t.any())
        assert zeroed == theirs["zeroed"] and any(n.endswith("bn3.weight") for n in zeroed), name
