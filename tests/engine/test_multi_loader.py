"""MultiLoaderEpochBasedTrainLoop (MMAction2's OmniSource training): a video loader and an image
loader in one run, one loss per source, the shorter loader ending the epoch, resume mid-epoch."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from torch import nn

from kinetix import cli
from kinetix.config import load_config
from kinetix.data import build_dataloader
from kinetix.data.seeding import SeededSampler
from kinetix.engine.checkpoint import load_checkpoint
from kinetix.engine.config_check import check_config
from kinetix.engine.logs import ScalarWriter
from kinetix.engine.runner import _other_loaders
from kinetix.engine.schedulers import LRSchedule
from kinetix.engine.trainer import Trainer
from kinetix.errors import ConfigError

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")
REPO = Path(__file__).resolve().parents[2]
OMNI = "recognition/omnisource/slowonly_r50_8xb16-8x8x1-256e_imagenet-kinetics400-rgb.py"


@pytest.fixture(scope="module")
def image_list(tiny_synthetic) -> Path:
    """An ImageNet-style list over the synthetic set's first frames: 12 images, labels 0-7."""
    lines = [line.split() for line in (tiny_synthetic / "train_list_rawframes.txt").read_text().splitlines()]
    path = tiny_synthetic / "image_list.txt"
    path.write_text("".join(f"{frame_dir}/img_00001.jpg {label}\n" for frame_dir, _, label in lines[::2][:12]))
    return path


def image_loader_cfg(root: Path, ann_file: Path, batch_size: int, **dataset: object) -> dict:
    return dict(batch_size=batch_size, num_workers=0, sampler=dict(type="DefaultSampler", shuffle=True),
                dataset=dict(type="mmcls.ImageNet", data_root=str(root), ann_file=str(ann_file),
                             data_prefix="rawframes", **dataset,
                             pipeline=[dict(type="LoadRGBFromFile"),
                                       dict(type="mmcls.RandomResizedCrop", scale=24),
                                       dict(type="mmcls.RandomFlip", prob=0.5, direction="horizontal"),
                                       dict(type="mmcls.PackClsInputs")]))


CONFIG = """
_base_ = [{runtime!r}]
model = dict(
    type='RecognizerOmni', backbone=dict(type='OmniResNet', layers=[1, 1, 1, 1], base_channels=8),
    cls_head=dict(type='OmniHead', image_classes=8, video_classes=8, in_channels=256),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3,
                           format_shape='MIX2d3d'))
train_dataloader = dict(
    batch_size=8, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='VideoDataset', ann_file={videos!r}, data_prefix=dict(video={video_root!r}),
                 pipeline=[dict(type='PyAVInit'), dict(type='SampleFrames', clip_len=4, frame_interval=2),
                           dict(type='PyAVDecode'), dict(type='Resize', scale=(24, 24), keep_ratio=False),
                           dict(type='FormatShape', input_format='NCTHW'), dict(type='PackActionInputs')]))
train_cfg = dict(type='MultiLoaderEpochBasedTrainLoop', other_loaders=[{images!r}], max_epochs=2)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
                     clip_grad=dict(max_norm=40, norm_type=2))
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(by_epoch=False, interval=1, max_keep_ckpts=-1, save_best=None))
"""


def scalars(work_dir: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(work_dir.glob("*/vis_data/scalars.json"))
            for line in path.read_text().splitlines()]


def test_video_and_image_loaders_train_together_and_resume(tiny_synthetic, image_list, tmp_path):
    # 32 videos in batches of 8 (4 steps), 12 images in batches of 4 (3 steps): epochs of 3 steps.
    config = tmp_path / "omni_tiny.py"
    config.write_text(CONFIG.format(runtime=str(REPO / "configs/_base_/default_runtime.py"),
                                    videos=str(tiny_synthetic / "train_list_videos.txt"),
                                    video_root=str(tiny_synthetic / "videos"),
                                    images=image_loader_cfg(tiny_synthetic, image_list, 4)))
    work = tmp_path / "work"
    assert cli.train_main([str(config), "--work-dir", str(work), "--seed", "3"]) == 0
    log = "\n".join(p.read_text() for p in work.glob("*/*.log"))
    assert "an epoch is 3 iterations" in log and "Epoch(train) [2][3/3]" in log
    rows = [r for r in scalars(work) if "loss" in r]
    assert [r["step"] for r in rows] == list(range(1, 7))
    for row in rows:   # one loss per source (MMAction2's names), summed into `loss`
        assert {"loss_cls_0", "loss_cls_1", "top1_acc_0", "top1_acc_1"} <= row.keys()
        assert row["loss"] == pytest.approx(row["loss_cls_0"] + row["loss_cls_1"], rel=1e-5)
    assert len({r["loss_cls_1"] for r in rows}) == len(rows)

    # From one step into epoch 2, the rest of the run is the run that never stopped.
    resumed = tmp_path / "resumed"
    assert cli.train_main([str(config), "--work-dir", str(resumed), "--resume", str(work / "iter_4.pth")]) == 0
    assert "1 batches into epoch 2" in "\n".join(p.read_text() for p in resumed.glob("*/*.log"))
    end, again = load_checkpoint(work / "iter_6.pth"), load_checkpoint(resumed / "iter_6.pth")
    for key, value in end["state_dict"].items():
        assert torch.equal(value, again["state_dict"][key]), key
    assert [r["loss_cls_1"] for r in scalars(resumed) if "loss" in r] == [r["loss_cls_1"] for r in rows[4:]]


class Recorder(nn.Module):
    """Takes a list of batches; remembers the sample indices of each source, step by step."""

    multi_source = True

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.seen: list[list[list[int]]] = []

    def forward(self, batch: list[dict], mode: str = "loss") -> dict:
        self.seen.append([b["indices"].tolist() for b in batch])
        return {"loss": sum((self.w - b["inputs"].float().mean()) ** 2 for b in batch)}


def test_the_shorter_loader_ends_the_epoch_and_each_loader_restarts_reshuffled(tiny_synthetic, image_list):
    # main: 12 images in batches of 2 (6 steps); other: the first 6 in batches of 2 (3 steps)
    main = build_dataloader(image_loader_cfg(tiny_synthetic, image_list, 2), "train_dataloader", seed=5,
                            shuffle_default=True)
    other = build_dataloader(image_loader_cfg(tiny_synthetic, image_list, 2, indices=6),
                             "train_cfg.other_loaders.0", seed=5, shuffle_default=True, stream=1)
    model = Recorder()
    trainer = Trainer(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.01), train_loader=main,
                      other_loaders=[other], max_epochs=2, lr_schedule=LRSchedule([], 1), hooks=[],
                      device=torch.device("cpu"), work_dir=Path("."), scalars=ScalarWriter(None))
    assert trainer.iters_per_epoch == 3
    trainer.train()
    assert trainer.iter == 6 and len(model.seen) == 6
    epochs = [model.seen[:3], model.seen[3:]]
    for steps in epochs:
        main_seen = [i for step in steps for i in step[0]]
        other_seen = [i for step in steps for i in step[1]]
        assert len(set(main_seen)) == 6 and set(main_seen) <= set(range(12))
        assert sorted(other_seen) == list(range(6))      # a whole pass of the other loader
    assert [s[1] for s in epochs[0]] != [s[1] for s in epochs[1]]   # reshuffled


def test_a_second_loader_draws_other_augmentations():
    # Same seed, same order; the stream alone changes each sample's random draws.
    first, second = SeededSampler(range(4), 9), SeededSampler(range(4), 9, stream=1)
    assert [i for i, _ in first] == [i for i, _ in second]
    assert all(a != b for (_, a), (_, b) in zip(first, second))
    assert list(SeededSampler(range(4), 9, stream=0)) == list(first)


def test_config_errors_name_the_other_loader(tiny_synthetic, image_list):
    cfg = load_config(REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py")
    images = image_loader_cfg(tiny_synthetic, image_list, 4)
    cfg["train_cfg"] = dict(type="MultiLoaderEpochBasedTrainLoop", other_loaders=[images], max_epochs=1)
    check_config(cfg, "train")
    images["dataset"]["pipeline"][1]["type"] = "mmcls.RandomResizedCorp"
    with pytest.raises(ConfigError, match=r"^train_cfg\.other_loaders\.0\.dataset\.pipeline\.1\.type: unknown"):
        check_config(cfg, "train")
    images["dataset"]["pipeline"][1]["type"] = "mmcls.RandomResizedCrop"
    images["dataset"]["pipeline"][2]["prob"] = "half"
    with pytest.raises(ConfigError, match=r"^train_cfg\.other_loaders\.0\.dataset\.pipeline\.2\.prob: expected"):
        check_config(cfg, "train")
    images["dataset"]["pipeline"][2]["prob"] = 0.5
    cfg["train_cfg"]["type"] = "EpochBasedTrainLoop"
    with pytest.raises(ConfigError, match=r"^train_cfg\.other_loaders: EpochBasedTrainLoop takes no other"):
        check_config(cfg, "train")
    cfg["train_cfg"]["type"] = "MultiLoaderEpochBasedTrainLoop"
    cfg["train_cfg"]["other_loaders"] = [dict(images, batch_size=0)]
    with pytest.raises(ConfigError, match=r"^train_cfg\.other_loaders\.0\.batch_size"):
        _other_loaders(cfg, cfg["train_cfg"], Recorder(), 0, 4)
    # A model that takes one batch per step cannot be given several.
    with pytest.raises(ConfigError, match=r"^train_cfg\.other_loaders: Linear takes one batch per step"):
        _other_loaders(cfg, cfg["train_cfg"], nn.Linear(1, 1), 0, 4)


@pytest.mark.skipif(not MMACTION2_PYTHON, reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed")
def test_mmaction2_omnisource_config_passes_the_check():
    # find_spec locates the package without importing it (fast).
    proc = subprocess.run([MMACTION2_PYTHON, "-c", "import importlib.util; "
                           "print(importlib.util.find_spec('mmaction').submodule_search_locations[0])"],
                          capture_output=True, text=True, timeout=60, check=True)
    path = Path(proc.stdout.strip()) / ".mim" / "configs" / OMNI
    cfg = load_config(path)
    assert cfg["train_cfg"]["type"] == "MultiLoaderEpochBasedTrainLoop"
    with pytest.warns(Warning):   # log_processor & co: mmengine-only keys, one warning each
        check_config(cfg, "train")
    # The shipped copy trains the same way (its paths come from the shared Kinetics base).
    ours = load_config(REPO / "configs" / OMNI)
    for key in ("model", "train_dataloader", "val_dataloader", "test_dataloader", "train_cfg",
                "param_scheduler", "optim_wrapper", "default_hooks"):
        assert ours[key] == cfg[key], key
