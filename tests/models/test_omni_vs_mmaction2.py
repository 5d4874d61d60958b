"""RecognizerOmni gives MMAction2's scores on images (the 2D path) and clips, and its loss on a
batch of images in training mode (batch-norm by batch statistics, without updating them).

check_parity.py compares the omnisource config on clips only; this covers the image path.
MMAction2 runs in its own environment (subprocess; set ``KINETIX_MMACTION2_PYTHON``).
"""

import copy
import json
import os
import subprocess
import textwrap

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.registry import MODELS, build

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MMACTION2_PYTHON,
                       reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed"),
]

# One block per stage keeps MMAction2's model (whose widths are fixed) small enough.
CFG = dict(type="RecognizerOmni", backbone=dict(type="OmniResNet", layers=[1, 1, 1, 1]),
           cls_head=dict(type="OmniHead", image_classes=7, video_classes=5, in_channels=2048,
                         image_dropout_ratio=0.0, video_dropout_ratio=0.0, average_clips="score"),
           data_preprocessor=dict(type="ActionDataPreprocessor", mean=[123.675, 116.28, 103.53],
                                  std=[58.395, 57.12, 57.375], format_shape="MIX2d3d"))

MMACTION2_SIDE = textwrap.dedent("""
    import json, sys
    import torch
    from mmaction.registry import MODELS
    from mmaction.structures import ActionDataSample
    from mmaction.utils import register_all_modules

    register_all_modules()
    cfg, out = json.load(open(sys.argv[1])), sys.argv[2]
    torch.manual_seed(0)
    model = MODELS.build(cfg).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():   # random statistics, so that batch norm is not the identity
        for name, t in model.state_dict().items():
            if t.is_floating_point() and t.dim() == 1:
                t.copy_(torch.rand(t.shape, generator=gen) * 0.5 + 0.75 if name.endswith(("var", "weight"))
                        else torch.randn(t.shape, generator=gen) * 0.1)
    images = torch.randint(0, 256, (3, 3, 32, 32), generator=gen, dtype=torch.uint8)
    clips = torch.randint(0, 256, (2, 2, 3, 4, 32, 32), generator=gen, dtype=torch.uint8)
    def scores(x):
        data = {"inputs": list(x), "data_samples": [ActionDataSample() for _ in x]}
        with torch.no_grad():
            return torch.stack([s.pred_score for s in model.test_step(data)])
    # (cloned: state_dict() shares storage, and the training step below moves the head's stats)
    result = {"state": {k: v.clone() for k, v in model.state_dict().items()}, "images": images, "clips": clips,
              "image_scores": scores(images), "clip_scores": scores(clips)}
    labels = torch.tensor([1, 6, 3])
    model.train()
    data = {"inputs": list(images),
            "data_samples": [ActionDataSample().set_gt_label(int(l)) for l in labels]}
    data = model.data_preprocessor(data, True)
    with torch.no_grad():
        losses = model(data, mode="loss")
    result.update(labels=labels, image_loss=losses["loss_cls_0"], state_after=model.state_dict())
    torch.save(result, out)
""")


def test_omni_matches_mmaction2_on_images_and_clips(tmp_path) -> None:
    (tmp_path / "cfg.json").write_text(json.dumps(CFG))
    (tmp_path / "side.py").write_text(MMACTION2_SIDE)
    proc = subprocess.run([MMACTION2_PYTHON, str(tmp_path / "side.py"), str(tmp_path / "cfg.json"),
                           str(tmp_path / "mm.pt")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mm = torch.load(tmp_path / "mm.pt")
    model = build(copy.deepcopy(CFG), MODELS, "model").eval()
    model.load_state_dict(mm["state"], strict=True)
    with torch.no_grad():
        image_scores = model({"inputs": mm["images"]}, mode="predict")
        clip_scores = model({"inputs": mm["clips"]}, mode="predict")
    assert image_scores.shape == (3, 7) and clip_scores.shape == (2, 5)
    torch.testing.assert_close(image_scores, mm["image_scores"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(clip_scores, mm["clip_scores"], rtol=1e-4, atol=1e-4)
    model.train()
    with torch.no_grad():
        losses = model([{"inputs": mm["images"], "labels": mm["labels"]}], mode="loss")
    torch.testing.assert_close(losses["loss_cls_0"], mm["image_loss"], rtol=1e-4, atol=1e-5)
    # images normalise by their batch but leave the backbone's (video) running statistics
    # alone; the head's BatchNorm1d of fc2d learns from them, as in MMAction2
    after = model.state_dict()
    for name, value in mm["state_after"].items():
        torch.testing.assert_close(after[name], value, rtol=1e-4, atol=1e-5, msg=name)
    assert torch.equal(after["backbone.bn1.running_mean"], mm["state"]["backbone.bn1.running_mean"])
    assert not torch.equal(after["cls_head.fc2d.2.running_mean"],
                           mm["state"]["cls_head.fc2d.2.running_mean"])
