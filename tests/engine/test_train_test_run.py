"""End to end through the command-line entry points: train -> resume -> test, on a tiny set."""

import json
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch

from kinetix import cli
from kinetix.config import load_config
from kinetix.engine import precision
from kinetix.engine.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[2]
TSM = str(REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py")


# Frequent logging and checkpoints so that two epochs exercise every hook.
HOOK_OPTIONS = ["train_cfg.val_interval=1", "default_hooks.logger.interval=2",
                "default_hooks.checkpoint.interval=1", "default_hooks.checkpoint.max_keep_ckpts=2"]


def run_train(work_dir: Path, options: list[str], *extra: str) -> int:
    return cli.train_main([TSM, "--work-dir", str(work_dir), *extra, "--cfg-options", *HOOK_OPTIONS, *options])


def log_text(work_dir: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(work_dir.glob("*/*.log")))


def scalars(work_dir: Path) -> list[dict]:
    rows = []
    for path in sorted(work_dir.glob("*/vis_data/scalars.json")):
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    return rows


def test_train_resume_test(synthetic_options, tiny_synthetic, tmp_path, capsys):
    work_dir = tmp_path / "work"
    assert run_train(work_dir, synthetic_options(epochs=2, batch_size=8), "--seed", "1") == 0

    # work dir layout
    assert (work_dir / "epoch_1.pth").is_file() and (work_dir / "epoch_2.pth").is_file()
    assert Path((work_dir / "last_checkpoint").read_text()) == work_dir / "epoch_2.pth"
    assert len(list(work_dir.glob("best_acc_top1_epoch_*.pth"))) == 1
    dumped = load_config(work_dir / Path(TSM).name)
    assert dumped["train_cfg"]["max_epochs"] == 2 and dumped["work_dir"] == str(work_dir)
    # MMAction2's checkpoint layout: the config as text, message_hub in plain values
    ckpt = load_checkpoint(work_dir / "epoch_1.pth")
    assert ckpt["meta"]["cfg"] == ckpt["meta"]["config"]
    (tmp_path / "from_ckpt.py").write_text(ckpt["meta"]["cfg"])
    assert load_config(tmp_path / "from_ckpt.py") == dumped
    hub = ckpt["message_hub"]
    assert hub["log_scalars"] == {} and set(hub["resumed_keys"]) == set(hub["runtime_info"])
    assert {k: hub["runtime_info"][k] for k in ("epoch", "iter", "max_epochs", "seed")} == dict(
        epoch=1, iter=4, max_epochs=2, seed=1)
    text = log_text(work_dir)
    assert re.search(r"Epoch\(train\) \[2\]\[4/4\]  lr: \S+  eta: \S+  time: \S+  data_time: \S+  "
                     r"grad_norm: \S+  loss: \S+  loss_cls: \S+  top1_acc: \S+", text)
    assert re.search(r"Epoch\(val\) \[2\]\[1/1\]  acc/top1: \d\.\d{4}  acc/top5: \d\.\d{4}  acc/mean1: \d\.\d{4}", text)
    rows = scalars(work_dir)
    assert {r["epoch"] for r in rows if "loss" in r} == {1, 2}
    assert any("acc/top1" in r for r in rows)

    # --resume alone continues from last_checkpoint: only epoch 3 is trained
    assert run_train(work_dir, synthetic_options(epochs=3, batch_size=8), "--resume") == 0
    assert "Resumed from" in log_text(work_dir) and "at epoch 2" in log_text(work_dir)
    assert Path((work_dir / "last_checkpoint").read_text()) == work_dir / "epoch_3.pth"
    # max_keep_ckpts=2 counted across the resumed run
    assert sorted(p.name for p in work_dir.glob("epoch_*.pth")) == ["epoch_2.pth", "epoch_3.pth"]
    new_rows = scalars(work_dir)[len(rows):]
    assert {r["epoch"] for r in new_rows if "loss" in r} == {3}
    ckpt = torch.load(work_dir / "epoch_3.pth", weights_only=True)
    assert ckpt["meta"]["epoch"] == 3 and ckpt["meta"]["iter"] == 12 and "optimizer" in ckpt

    # test through the `kinetix` console command, with --dump and --show-dir
    dump = tmp_path / "preds.pkl"
    show = tmp_path / "show"
    capsys.readouterr()
    assert cli.main(["test", TSM, str(work_dir / "epoch_3.pth"), "--work-dir", str(work_dir),
                 "--dump", str(dump), "--show-dir", str(show), "--interval", "4",
                 "--cfg-options", *synthetic_options(epochs=3, batch_size=8)]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((work_dir / "test_metrics.json").read_text())
    assert 0.0 <= metrics["acc/top1"] <= 1.0 and metrics["num_samples"] == 16
    assert f"acc/top1: {metrics['acc/top1']:.4f}" in out
    records = pickle.loads(dump.read_bytes())
    assert len(records) == 16
    assert records[0]["pred_score"].shape == (8,) and records[0]["pred_label"].shape == (1,)
    assert [int(r["gt_label"]) for r in records] == sorted(int(r["gt_label"]) for r in records)
    # Each record names its sample, so predictions can be matched to the annotation list.
    listed = [line.split() for line in (tiny_synthetic / "test_list_videos.txt").read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(16))
    assert [(Path(r["filename"]).name, int(r["gt_label"])) for r in records] == \
        [(Path(name).name, int(label)) for name, label in listed]
    assert len(list(show.glob("*.png"))) == 4  # every 4th of 16


def test_resume_with_nothing_to_resume_warns_and_starts(synthetic_options, tmp_path, capsys):
    work_dir = tmp_path / "empty"
    assert run_train(work_dir, synthetic_options(epochs=1, batch_size=8), "--resume", "--no-validate") == 0
    out = capsys.readouterr().out
    assert re.search(rf"no checkpoint found in {re.escape(str(work_dir))}.*STARTING FROM SCRATCH", out)
    assert "Epoch(val)" not in log_text(work_dir)  # --no-validate
    assert not list(work_dir.glob("best_*.pth"))


def test_same_seed_same_run_and_auto_scale_lr(synthetic_options, tmp_path):
    losses = []
    for name in ("a", "b"):
        assert run_train(tmp_path / name, synthetic_options(epochs=1, batch_size=8), "--seed", "7", "--deterministic",
                         "--auto-scale-lr", "--no-validate") == 0
        losses.append([r["loss"] for r in scalars(tmp_path / name) if "loss" in r])
    assert losses[0] == losses[1] and len(losses[0]) == 2
    # auto_scale_lr: base_batch_size comes from the config, batch 8 x 1 process
    cfg = load_config(tmp_path / "a" / Path(TSM).name)
    expected = 8 / cfg["auto_scale_lr"]["base_batch_size"]
    assert f"lr x {expected:g}" in log_text(tmp_path / "a")


@pytest.mark.parametrize("native_bf16", [False, True])
def test_amp_on_cpu_trains(synthetic_options, tmp_path, monkeypatch, recwarn, native_bf16):
    # Decided by the CPU, not by the test machine: emulated bf16 would be slower than fp32.
    monkeypatch.setattr(precision, "_warned", set())
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native_bf16)
    assert run_train(tmp_path / "amp", synthetic_options(epochs=1, batch_size=8), "--amp", "--no-validate") == 0
    losses = [r["loss"] for r in scalars(tmp_path / "amp") if "loss" in r]
    assert losses and all(torch.isfinite(torch.tensor(losses)))
    text = log_text(tmp_path / "amp")
    # (Within pytest the warning goes to recwarn rather than to the log.)
    fallback_warnings = [w for w in recwarn if "this CPU has no native bf16" in str(w.message)]
    if native_bf16:
        assert "Precision: bf16 autocast (CPU with native bf16" in text and not fallback_warnings
    else:
        assert "Precision: fp32 (--amp ignored: this CPU has no native bf16)" in text
        assert len(fallback_warnings) == 1


def test_undecodable_video_is_skipped_and_counted(tiny_synthetic, synthetic_options, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(tiny_synthetic / "videos", root / "videos")
    for split in ("train", "val", "test"):
        shutil.copy(tiny_synthetic / f"{split}_list_videos.txt", root)
    broken = root / "videos" / "train" / "move_left_0000.mp4"
    broken.write_bytes(broken.read_bytes()[:200])  # truncated
    assert run_train(tmp_path / "work", synthetic_options(epochs=1, batch_size=8, root=root), "--no-validate") == 0
    out = capsys.readouterr().out
    assert "move_left_0000.mp4" in out
    assert re.search(r"skipped 1 undecodable video\(s\)", out)


RAWFRAMES = str(REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rawframes.py")


def test_rawframes_resume_from_path_and_load_from(synthetic_options, tmp_path):
    first = tmp_path / "first"
    assert cli.train_main([RAWFRAMES, "--work-dir", str(first), "--no-validate",
                           "--cfg-options", *synthetic_options("rawframes", epochs=1)]) == 0
    assert (first / "epoch_1.pth").is_file()

    # --resume PATH into another work dir continues at epoch 2
    second = tmp_path / "second"
    assert cli.train_main([RAWFRAMES, "--work-dir", str(second), "--no-validate",
                           "--resume", str(first / "epoch_1.pth"),
                           "--cfg-options", *synthetic_options("rawframes", epochs=2)]) == 0
    assert sorted(p.name for p in second.glob("epoch_*.pth")) == ["epoch_2.pth"]

    # load_from takes the weights but starts at epoch 1
    third = tmp_path / "third"
    assert cli.train_main([RAWFRAMES, "--work-dir", str(third), "--no-validate",
                           "--cfg-options", *synthetic_options("rawframes", epochs=1),
                           f"load_from={first / 'epoch_1.pth'}"]) == 0
    assert "Loaded weights from" in log_text(third)
    assert torch.load(third / "epoch_1.pth", weights_only=True)["meta"]["epoch"] == 1

    assert cli.test_main([RAWFRAMES, str(second / "epoch_2.pth"), "--work-dir", str(second),
                          "--cfg-options", *synthetic_options("rawframes", epochs=2)]) == 0
    assert json.loads((second / "test_metrics.json").read_text())["num_samples"] == 16


def test_epoch_with_no_decodable_video_stops_the_run(tiny_synthetic, synthetic_options, tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(tiny_synthetic / "videos", root / "videos")
    for split in ("train", "val", "test"):
        shutil.copy(tiny_synthetic / f"{split}_list_videos.txt", root)
    for video in (root / "videos" / "train").glob("*.mp4"):
        video.write_bytes(b"not a video")
    assert run_train(tmp_path / "work", synthetic_options(epochs=2, batch_size=8, root=root), "--no-validate") == 2
    err = capsys.readouterr().err
    assert re.search(r"error: epoch 1: no batch could be trained on; 32 video\(s\) were undecodable", err)
    assert not list((tmp_path / "work").glob("*.pth"))


def test_iteration_based_training_with_iteration_checkpoints(synthetic_options, tmp_path, capsys):
    config = tmp_path / "iters.py"
    config.write_text(f"_base_ = [{TSM!r}]\n"
                      "train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=6, val_interval=3)\n"
                      "default_hooks = dict(checkpoint=dict(by_epoch=False, interval=4, max_keep_ckpts=-1),\n"
                      "                     logger=dict(interval=3))\n")
    work = tmp_path / "work"
    assert cli.train_main([str(config), "--work-dir", str(work), "--cfg-options",
                           *synthetic_options(batch_size=8)]) == 0  # 32 videos: 4 iterations an epoch
    out = capsys.readouterr().out
    assert "Iter(train) [3/6]" in out and "Iter(train) [6/6]" in out
    assert "Iter(val) [3]" in out and "Iter(val) [6]" in out
    # iter_4 by the interval; iter_6 as the last; the best file named by iteration
    assert sorted(p.name for p in work.glob("iter_*.pth")) == ["iter_4.pth", "iter_6.pth"]
    assert list(work.glob("best_acc_top1_iter_*.pth"))
    assert torch.load(work / "iter_6.pth", weights_only=True)["meta"]["iter"] == 6
    assert (work / "last_checkpoint").read_text().strip().endswith("iter_6.pth")


def test_test_results_say_over_how_many_videos_and_fail_when_none_decodes(tiny_synthetic, synthetic_options,
                                                                        tmp_path, capsys):
    work = tmp_path / "work"
    assert run_train(work, synthetic_options(epochs=1, batch_size=8), "--no-validate") == 0
    root = tmp_path / "data"
    shutil.copytree(tiny_synthetic / "videos", root / "videos")
    for split in ("train", "val", "test"):
        shutil.copy(tiny_synthetic / f"{split}_list_videos.txt", root)
    test_videos = [line.split()[0] for line in (root / "test_list_videos.txt").read_text().splitlines()]
    broken = root / "videos" / test_videos[0]
    broken.write_bytes(broken.read_bytes()[:200])
    options = synthetic_options(batch_size=8, root=root)
    assert cli.test_main([TSM, str(work / "epoch_1.pth"), "--work-dir", str(work), "--cfg-options", *options]) == 0
    metrics = json.loads((work / "test_metrics.json").read_text())
    assert (metrics["num_samples"], metrics["num_videos"], metrics["num_skipped"]) == \
        (len(test_videos) - 1, len(test_videos), 1)
    assert f"Tested {len(test_videos) - 1} of {len(test_videos)} videos, 1 skipped" in capsys.readouterr().out
    for name in test_videos[1:]:  # now every video is broken
        path = root / "videos" / name
        path.write_bytes(path.read_bytes()[:200])
    assert cli.test_main([TSM, str(work / "epoch_1.pth"), "--work-dir", str(work), "--cfg-options", *options]) == 2
    err = capsys.readouterr().err.split("\r")[-1].strip()  # after the progress bar's last redraw
    assert err.startswith(f"error: test: none of the {len(test_videos)} video(s) of ") and "no metric" in err
    assert "\n" not in err


def test_missing_videos_are_left_out_and_skipped_ones_stay_in_the_dump(tiny_synthetic, synthetic_options,
                                                                         tmp_path, capsys):
    root = tmp_path / "data"
    shutil.copytree(tiny_synthetic / "videos", root / "videos")
    for split in ("train", "val", "test"):
        shutil.copy(tiny_synthetic / f"{split}_list_videos.txt", root)
    train_videos = [line.split()[0] for line in (root / "train_list_videos.txt").read_text().splitlines()]
    (root / "videos" / train_videos[3]).unlink()
    work, options = tmp_path / "work", synthetic_options(epochs=1, batch_size=8, root=root)
    assert run_train(work, options, "--no-validate") == 0
    missing_line = [line for line in capsys.readouterr().out.splitlines() if "do not exist" in line]
    assert len(missing_line) == 1 and f"1 file(s) listed in {root / 'train_list_videos.txt'}" in missing_line[0]
    assert (work / "missing_videos.txt").read_text() == \
        f"{root / 'videos' / train_videos[3]}\t{root / 'train_list_videos.txt'}:4\n"
    assert not (work / "bad_videos.txt").exists()  # nothing undecodable
    # on_missing='error': fatal, in one line naming the list's line
    assert run_train(tmp_path / "strict", options + ["train_dataloader.dataset.on_missing=error"],
                     "--no-validate") == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: 1 of {len(train_videos)} videos listed in {root / 'train_list_videos.txt'} do not "
                   f"exist (on_missing='error'); first: {root / 'train_list_videos.txt'}:4: "
                   f"{root / 'videos' / train_videos[3]}")

    test_lines = [line.split() for line in (root / "test_list_videos.txt").read_text().splitlines()]
    test_videos = [name for name, _ in test_lines]
    (root / "videos" / test_videos[0]).unlink()
    (root / "videos" / test_videos[2]).write_bytes(b"\0" * 100)
    dump = tmp_path / "out.pkl"
    assert cli.test_main([TSM, str(work / "epoch_1.pth"), "--work-dir", str(work), "--dump", str(dump),
                          "--cfg-options", *options]) == 0
    records = pickle.loads(dump.read_bytes())
    # one record per sample kept (the missing video is left out), in order, the skipped one in its place
    assert [r["index"] for r in records] == list(range(len(test_videos) - 1))
    assert [r["filename"] for r in records] == [str(root / "videos" / v) for v in test_videos[1:]]
    bad = records[1]
    assert bad["skipped"] is True and bad["reason"] and bad["pred_label"].tolist() == [-1]
    assert torch.isnan(bad["pred_score"]).all() and bad["gt_label"].item() == int(test_lines[2][1])
    assert not any(r["skipped"] for r in records[:1] + records[2:])
    assert torch.stack([r["pred_score"] for r in records]).shape == (len(records), 8)
    assert (work / "bad_videos_test.txt").read_text() == f"{root / 'videos' / test_videos[2]}\t{bad['reason']}\n"
    assert (work / "missing_videos_test.txt").read_text().startswith(f"{root / 'videos' / test_videos[0]}\t")
    assert (work / "missing_videos.txt").exists()  # the training run's list is left alone
    metrics = json.loads((work / "test_metrics.json").read_text())
    assert (metrics["num_samples"], metrics["num_videos"], metrics["num_skipped"], metrics["num_missing"]) == \
        (len(test_videos) - 2, len(test_videos) - 1, 1, 1)
