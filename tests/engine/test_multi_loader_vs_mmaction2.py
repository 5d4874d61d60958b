"""One training step of RecognizerOmni on a video batch plus an image batch (OmniSource's
MultiLoaderEpochBasedTrainLoop step) gives MMAction2's losses and MMAction2's weights after the
SGD step with gradient clipping: the per-source losses, their sum, one backward, one update.

MMAction2 runs in its own environment (subprocess; set ``KINETIX_MMACTION2_PYTHON``).
"""

import copy
import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.engine.logs import ScalarWriter
from kinetix.engine.optim import build_optimizer
from kinetix.engine.schedulers import LRSchedule
from kinetix.engine.trainer import Hook, Trainer
from kinetix.registry import MODELS, build

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MMACTION2_PYTHON,
                       reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed"),
]

# One block per stage keeps MMAction2's model (whose widths are fixed) small; no dropout.
MODEL = dict(type="RecognizerOmni", backbone=dict(type="OmniResNet", layers=[1, 1, 1, 1]),
             cls_head=dict(type="OmniHead", image_classes=7, video_classes=5, in_channels=2048,
                           image_dropout_ratio=0.0, video_dropout_ratio=0.0),
             data_preprocessor=dict(type="ActionDataPreprocessor", mean=[123.675, 116.28, 103.53],
                                    std=[58.395, 57.12, 57.375], format_shape="MIX2d3d"))
# The omnisource config's optimizer.
OPTIM = dict(optimizer=dict(type="SGD", lr=0.1, momentum=0.9, weight_decay=0.0001),
             clip_grad=dict(max_norm=40, norm_type=2))

MMACTION2_SIDE = textwrap.dedent("""
    import json, sys
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmaction.registry import MODELS
    from mmaction.structures import ActionDataSample
    from mmaction.utils import register_all_modules

    register_all_modules()
    model_cfg, optim_cfg = json.load(open(sys.argv[1]))
    torch.manual_seed(0)
    model = MODELS.build(model_cfg).train()
    gen = torch.Generator().manual_seed(1)
    clips = torch.randint(0, 256, (2, 1, 3, 4, 32, 32), generator=gen, dtype=torch.uint8)
    images = torch.randint(0, 256, (3, 3, 32, 32), generator=gen, dtype=torch.uint8)
    clip_labels, image_labels = torch.tensor([4, 1]), torch.tensor([6, 0, 2])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    optim = build_optim_wrapper(model, optim_cfg)
    data = tuple({"inputs": list(x), "data_samples": [ActionDataSample().set_gt_label(int(l)) for l in y]}
                 for x, y in ((clips, clip_labels), (images, image_labels)))
    log_vars = model.train_step(data, optim)   # MultiLoaderEpochBasedTrainLoop.run_iter's call
    torch.save({"state": state, "clips": clips, "images": images, "clip_labels": clip_labels,
                "image_labels": image_labels, "log_vars": {k: float(v) for k, v in log_vars.items()},
                "after": model.state_dict()}, sys.argv[2])
""")


class Outputs(Hook):
    def __init__(self) -> None:
        self.steps: list[dict] = []

    def after_step(self, trainer, outputs) -> None:
        self.steps.append({k: float(v) for k, v in outputs.items()})


def test_one_video_plus_image_step_matches_mmaction2(tmp_path: Path) -> None:
    (tmp_path / "cfg.json").write_text(json.dumps([MODEL, OPTIM]))
    (tmp_path / "side.py").write_text(MMACTION2_SIDE)
    proc = subprocess.run([MMACTION2_PYTHON, str(tmp_path / "side.py"), str(tmp_path / "cfg.json"),
                           str(tmp_path / "mm.pt")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mm = torch.load(tmp_path / "mm.pt")

    model = build(copy.deepcopy(MODEL), MODELS, "model")
    model.load_state_dict(mm["state"], strict=True)
    outputs = Outputs()
    trainer = Trainer(model=model, optimizer=build_optimizer(copy.deepcopy(OPTIM), model, 1.0),
                      train_loader=[{"inputs": mm["clips"], "labels": mm["clip_labels"]}],
                      other_loaders=[[{"inputs": mm["images"], "labels": mm["image_labels"]}]],
                      max_epochs=1, lr_schedule=LRSchedule([], 1), hooks=[outputs], device=torch.device("cpu"),
                      work_dir=tmp_path, scalars=ScalarWriter(None), clip_grad=OPTIM["clip_grad"])
    trainer.train()
    (ours,) = outputs.steps
    for key, value in mm["log_vars"].items():   # loss, loss_cls_0/1, top1_acc_0/1, top5_acc_0/1
        assert ours[key] == pytest.approx(value, rel=1e-4, abs=1e-5), key
    assert ours["loss"] == pytest.approx(ours["loss_cls_0"] + ours["loss_cls_1"], rel=1e-6)
    after = model.state_dict()
    moved = 0
    for name, value in mm["after"].items():
        torch.testing.assert_close(after[name], value, rtol=1e-4, atol=1e-5, msg=name)
        moved += not torch.equal(value, mm["state"][name])
    assert moved > 0
