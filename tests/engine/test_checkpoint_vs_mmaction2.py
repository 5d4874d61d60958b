"""A training run moves between kinetix and MMAction2 through checkpoints, both ways.

kinetix trains a tiny I3D for one epoch; MMAction2 (mmengine's Runner, in its own
environment: set ``KINETIX_MMACTION2_PYTHON``) resumes from that checkpoint, reading
the model, optimizer and schedule from the config text kinetix stored in it, and
trains the second epoch; kinetix resumes from MMAction2's checkpoint for the third.
"""

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest
import torch

from kinetix import cli
from kinetix.engine.checkpoint import load_checkpoint

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")
REPO = Path(__file__).resolve().parents[2]
I3D = str(REPO / "configs/recognition/i3d/i3d_r18-tiny_8x2x1-synthetic-rgb.py")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MMACTION2_PYTHON,
                       reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed"),
]

# Resumes with mmengine's Runner: model, optimizer and schedule from the checkpoint's config
# text; random clips stand in for the data (only the bookkeeping is under test here).
MMACTION2_SIDE = textwrap.dedent("""
    import json, sys
    import torch
    from torch.utils.data import Dataset
    from mmengine.config import Config
    from mmengine.runner import Runner
    from mmaction.registry import DATASETS
    from mmaction.structures import ActionDataSample
    from mmaction.utils import register_all_modules

    register_all_modules()
    ckpt_path, work_dir, num_batches = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    cfg = Config.fromstring(ckpt["meta"]["cfg"], file_format=".py")
    num_classes = cfg.model.cls_head.num_classes

    @DATASETS.register_module(force=True)
    class RandomClips(Dataset):
        metainfo = None
        def __len__(self):
            return 2 * num_batches
        def __getitem__(self, i):
            return dict(inputs=torch.randint(0, 256, (1, 3, 8, 32, 32), dtype=torch.uint8),
                        data_samples=ActionDataSample().set_gt_label(i % num_classes))

    runner = Runner(
        model=cfg.model, work_dir=work_dir, default_scope="mmaction",
        train_dataloader=dict(dataset=dict(type="RandomClips"), batch_size=2, num_workers=0,
                              sampler=dict(type="DefaultSampler", shuffle=False),
                              collate_fn=dict(type="pseudo_collate")),
        train_cfg=dict(type="EpochBasedTrainLoop", max_epochs=ckpt["meta"]["epoch"] + 1,
                       val_interval=100),
        optim_wrapper=cfg.optim_wrapper, param_scheduler=cfg.param_scheduler,
        default_hooks=dict(checkpoint=dict(type="CheckpointHook", interval=1)),
        randomness=dict(seed=cfg.get("randomness", {}).get("seed", 0)),
        resume=True, load_from=ckpt_path, cfg=cfg.to_dict())
    runner.model.load_state_dict(ckpt["state_dict"], strict=True)  # the same keys and shapes
    runner.train()
    print("RESULT " + json.dumps(dict(epoch=runner.epoch, iter=runner.iter,
                                      seed=runner.message_hub.get_info("seed"))))
""")


def test_resume_kinetix_to_mmaction2_and_back(synthetic_options, tmp_path):
    work = tmp_path / "kinetix"
    options = [*synthetic_options(epochs=1, batch_size=8), "default_hooks.checkpoint.save_best=None"]
    assert cli.train_main([I3D, "--work-dir", str(work), "--no-validate", "--seed", "3",
                           "--cfg-options", *options]) == 0
    ours = load_checkpoint(work / "epoch_1.pth")
    # plain values mmengine's MessageHub.load_state_dict accepts, and the config as text
    assert set(ours["message_hub"]) == {"log_scalars", "runtime_info", "resumed_keys"}
    assert ours["message_hub"]["runtime_info"]["seed"] == 3
    assert ours["meta"]["cfg"].startswith("#") and "model = dict(" in ours["meta"]["cfg"]
    iters_per_epoch = ours["meta"]["iter"]
    # the same run continued in kinetix, to compare MMAction2's continuation with
    options = [*synthetic_options(epochs=2, batch_size=8), "default_hooks.checkpoint.save_best=None"]
    assert cli.train_main([I3D, "--work-dir", str(tmp_path / "kinetix2"), "--no-validate", "--seed", "3",
                           "--cfg-options", *options]) == 0
    continuous = load_checkpoint(tmp_path / "kinetix2" / "epoch_2.pth")

    # MMAction2 resumes from kinetix's epoch 1 and trains epoch 2
    mm_work = tmp_path / "mmaction2"
    (tmp_path / "side.py").write_text(MMACTION2_SIDE)
    proc = subprocess.run([MMACTION2_PYTHON, str(tmp_path / "side.py"), str(work / "epoch_1.pth"),
                           str(mm_work), str(iters_per_epoch)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT ")[-1])
    assert result == dict(epoch=2, iter=2 * iters_per_epoch, seed=3)
    assert "resumed epoch: 1" in proc.stdout + proc.stderr

    # MMAction2 continued the lr schedule where kinetix left it (not from its start): its
    # epoch-2 schedulers and lrs are those of kinetix's uninterrupted run
    theirs = load_checkpoint(mm_work / "epoch_2.pth")  # weights-only: mmengine objects stay inert
    for mine, their in zip(continuous["param_schedulers"], theirs["param_schedulers"], strict=True):
        assert (mine["last_step"], mine["_global_step"]) == (their["last_step"], their["_global_step"])
    for mine, their in zip(continuous["optimizer"]["param_groups"], theirs["optimizer"]["param_groups"],
                           strict=True):
        assert mine["lr"] == pytest.approx(their["lr"], rel=1e-6)

    # kinetix resumes from MMAction2's epoch 2 and trains epoch 3
    options = [*synthetic_options(epochs=3, batch_size=8), "default_hooks.checkpoint.save_best=None"]
    assert cli.train_main([I3D, "--work-dir", str(work), "--no-validate",
                           "--resume", str(mm_work / "epoch_2.pth"), "--cfg-options", *options]) == 0
    third = load_checkpoint(work / "epoch_3.pth")
    assert third["meta"]["epoch"] == 3
    assert third["meta"]["iter"] == theirs["meta"]["iter"] + iters_per_epoch
    # epoch 3 started from MMAction2's weights: they moved, and not back to kinetix's epoch 1
    changed = [k for k, v in theirs["state_dict"].items() if v.is_floating_point()
               and not torch.equal(v, third["state_dict"][k])]
    assert changed
