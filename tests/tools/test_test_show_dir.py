"""tools/test.py --show-dir/--show with shipped configs, unchanged: 2D, 3D, multi-view, rawframes."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import REPO, SMALL_TSM, TSM_TINY, tiny_set_options
from kinetix import cli
from kinetix.apis import init_recognizer


def _test(config, checkpoint, work: Path, *extra: str, options=()) -> int:
    return cli.test_main([str(config), str(checkpoint), "--work-dir", str(work / "w"), *extra,
                          "--cfg-options", *options])


def _random_checkpoint(config, path: Path, options: dict | None = None) -> Path:
    torch.manual_seed(0)
    model = init_recognizer(str(config), cfg_options=options)
    torch.save({"state_dict": model.state_dict()}, path)
    return path


def test_validation_pictures_during_training(tiny_tsm_run):
    # interval=3 over the 8 validation videos: samples 0, 3, 6 after epoch 1
    names = sorted(p.name for p in tiny_tsm_run.glob("*/vis_data/vis_image/*"))
    assert [n for n in names if n.endswith(".png")] == \
        ["000000_move_left_0000_1.png", "000003_rotate_anticlockwise_0000_1.png", "000006_appear_0000_1.png"]
    assert len([n for n in names if n.endswith(".gif")]) == 3


def test_2d_show_dir_and_show_without_display(tiny_tsm_run, tiny_synthetic, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    show = tmp_path / "show"
    with pytest.warns(UserWarning, match="no display") as warned:
        assert _test(TSM_TINY, tiny_tsm_run / "epoch_1.pth", tmp_path, "--show-dir", str(show), "--show",
                     "--interval", "5", options=[*SMALL_TSM, *tiny_set_options(tiny_synthetic)]) == 0
    assert len([w for w in warned if "no display" in str(w.message)]) == 1
    # every 5th of 16: 0, 5, 10, 15
    assert sorted(p.stem for p in show.glob("*.png")) == sorted(p.stem for p in show.glob("*.gif")) == \
        ["000000_move_left_0000", "000005_rotate_clockwise_0001", "000010_recede_0000", "000015_disappear_0001"]
    gif = Image.open(show / "000005_rotate_clockwise_0001.gif")
    assert gif.n_frames == 8 and gif.info["loop"] == 0  # the 8 segments TSM saw, looping
    sheet = Image.open(show / "000005_rotate_clockwise_0001.png")
    assert sheet.width > 8 * 56  # eight frames side by side, enlarged
    assert "class names from" in capsys.readouterr().out  # classes.txt beside the annotation file


def test_rawframes_config(tiny_tsm_run, tiny_synthetic, tmp_path):
    config = REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rawframes.py"
    show = tmp_path / "show"
    assert _test(config, tiny_tsm_run / "epoch_1.pth", tmp_path, "--show-dir", str(show), "--interval", "8",
                 options=[*SMALL_TSM, *tiny_set_options(tiny_synthetic, "rawframes")]) == 0
    assert sorted(p.name for p in show.iterdir()) == [
        "000000_move_left_0000.gif", "000000_move_left_0000.png", "000008_approach_0000.gif", "000008_approach_0000.png"]


@pytest.mark.parametrize("config", ["configs/recognition/x3d/x3d_xs-tiny_8x2x1-synthetic-rgb.py",
                                    "configs/recognition/i3d/i3d_r18-tiny_8x2x1-synthetic-rgb.py"])
def test_3d_configs(config, tiny_synthetic, tmp_path):
    show = tmp_path / "show"
    checkpoint = _random_checkpoint(REPO / config, tmp_path / "init.pth")
    assert _test(REPO / config, checkpoint, tmp_path, "--show-dir", str(show), "--interval", "16",
                 options=tiny_set_options(tiny_synthetic)) == 0
    assert Image.open(show / "000000_move_left_0000.gif").n_frames == 8  # one 8-frame clip


def test_multi_view_3d_pipeline_has_a_row_per_view(tiny_synthetic, tmp_path):
    # 2 clips x ThreeCrop: 6 views in rows; the GIF plays the first crop's 2 clips (16 frames)
    child = tmp_path / "i3d_multiview.py"
    child.write_text(f"_base_ = ['{REPO}/configs/recognition/i3d/i3d_r18-tiny_8x2x1-synthetic-rgb.py']\n"
                     "test_pipeline = [dict(type='PyAVInit'),\n"
                     "    dict(type='SampleFrames', clip_len=8, frame_interval=1, num_clips=2, test_mode=True),\n"
                     "    dict(type='PyAVDecode'), dict(type='Resize', scale=(72, 48), keep_ratio=False),\n"
                     "    dict(type='ThreeCrop', crop_size=48), dict(type='FormatShape', input_format='NCTHW'),\n"
                     "    dict(type='PackActionInputs')]\n"
                     "test_dataloader = dict(dataset=dict(pipeline=test_pipeline))\n")
    show = tmp_path / "show"
    checkpoint = _random_checkpoint(child, tmp_path / "init.pth")
    assert _test(child, checkpoint, tmp_path, "--show-dir", str(show), "--interval", "16",
                 options=tiny_set_options(tiny_synthetic)) == 0
    assert Image.open(show / "000000_move_left_0000.gif").n_frames == 16
    single = tmp_path / "single"
    plain = REPO / "configs/recognition/i3d/i3d_r18-tiny_8x2x1-synthetic-rgb.py"
    assert _test(plain, checkpoint, tmp_path, "--show-dir", str(single), "--interval", "16",
                 options=tiny_set_options(tiny_synthetic)) == 0
    six_rows, one_row = (Image.open(d / "000000_move_left_0000.png") for d in (show, single))
    assert six_rows.height > one_row.height + 4 * 112  # five more rows of enlarged frames
