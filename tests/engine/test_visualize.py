"""Pictures of predictions: views of every input layout, captions, files, the training switch."""

import numpy as np
import pytest
import torch
from PIL import Image

from kinetix.engine.drawing import Caption, contact_sheet, fit, font, gif_frames, sample_views, to_uint8
from kinetix.engine.visualize import (ValidationPictures, VisualizationHook, Visualizer, caption_for,
                                      pipeline_rows)
from kinetix.errors import ConfigError


def _batch(n: int, shape=(8, 3, 16, 16)) -> dict:
    return {"inputs": torch.randint(0, 255, (n, *shape), dtype=torch.uint8),
            "labels": torch.arange(n) % 3, "indices": torch.arange(n),
            "filenames": [f"v{i}.mp4" for i in range(n)]}


def test_sample_views_of_each_layout():
    # NCHW, TenCrop of 8 segments: 80 frames -> 10 rows of 8, crop-major
    frames = np.arange(80, dtype=np.uint8)[:, None, None, None] * np.ones((1, 3, 4, 4), np.uint8)
    views = sample_views(frames, crops=10)
    assert len(views) == 10 and views[0].shape == (8, 4, 4, 3)
    assert views[1][0, 0, 0, 0] == 8  # the second crop starts at frame 8
    # NCTHW: 6 views of 4 frames each
    assert [v.shape for v in sample_views(np.zeros((6, 3, 4, 5, 7), np.uint8))] == [(4, 5, 7, 3)] * 6
    # flow folded into channels (NCHW, clip_len 5 -> 10 channels): 5 colour frames per segment
    flow = np.full((3, 10, 4, 4), 128, np.uint8)
    flow[:, 0] = 255  # the first frame of each segment moves right
    (view,) = sample_views(flow)
    assert view.shape == (15, 4, 4, 3)
    assert view[0].max() > 0 and view[1].max() == 0  # motion is bright, stillness dark
    # rows that do not divide the frames: one row
    assert len(sample_views(np.zeros((7, 3, 4, 4), np.uint8), crops=3)) == 1


def test_to_uint8_keeps_pixels_and_stretches_normalised_input():
    pixels = np.array([0.0, 127.6, 255.0], np.float32)
    assert to_uint8(pixels).tolist() == [0, 128, 255]
    normalised = np.array([-2.0, 0.0, 2.0], np.float32)
    assert to_uint8(normalised).tolist() == [0, 127, 255]


def test_pipeline_rows_counts_crops():
    assert pipeline_rows([dict(type="SampleFrames"), dict(type="TenCrop", crop_size=224)]) == 10
    assert pipeline_rows([dict(type="SampleFrames", twice_sample=True), dict(type="ThreeCrop")]) == 6
    assert pipeline_rows(None) == 1


def test_caption_marks_right_wrong_and_ranks_a_missed_truth():
    scores = torch.tensor([0.05, 0.3, 0.2, 0.1, 0.15, 0.12, 0.08])
    names = [f"c{i}" for i in range(7)]
    right = caption_for(scores, 1, names)
    assert right.correct and right.truth == ["c1"] and [n for n, _ in right.top] == ["c1", "c2", "c4", "c5", "c3"]
    wrong = caption_for(scores, 0, names)
    assert wrong.correct is False and "c0: 0.050 (rank 7 of 7)" in wrong.extra
    assert caption_for(scores, torch.tensor([0, 1, 0, 0, 0, 0, 1.0]), names).correct  # multi-label: top-1 in the set
    assert caption_for(scores, None, names).correct is None
    assert caption_for(scores, 1, None).truth == ["1"]  # no names: class indices


def test_long_names_are_ellipsised_to_fit():
    fnt = font(16)
    text = fit("a_very_long_class_name_" * 10, 200, fnt)
    assert text.endswith("…") and fnt.getlength(text) <= 200
    caption = Caption(truth=["x" * 300], top=[("y" * 300, 0.9)], title="z" * 300, correct=False)
    views = [np.zeros((4, 8, 8, 3), np.uint8)]
    short = Caption(truth=["x"], top=[("y", 0.9)], correct=False)
    assert contact_sheet(views, caption).width == contact_sheet(views, short).width  # text does not widen it
    frames = gif_frames(np.zeros((3, 8, 8, 3), np.uint8), caption)
    assert len(frames) == 3 and frames[0].width >= 256


def test_show_dir_every_interval_writes_gif_and_sheet_and_show_without_display(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.warns(UserWarning, match="no display") as warned:
        vis = Visualizer(str(tmp_path), show=True, interval=2, classes=["a", "b", "c"])
    vis(_batch(5), torch.rand(5, 3))
    vis(_batch(3), torch.rand(3, 3))
    assert len(warned) == 1
    # samples 1, 3, 5, 7 of 8 (every 2nd, counted across batches)
    assert len(list(tmp_path.glob("*.png"))) == 4 and len(list(tmp_path.glob("*.gif"))) == 4
    gif = Image.open(sorted(tmp_path.glob("*.gif"))[0])
    assert gif.n_frames == 8  # every frame the model saw


def test_wrong_prediction_gets_a_red_frame(tmp_path):
    vis = Visualizer(str(tmp_path), show=False, classes=["a", "b", "c"])
    batch = _batch(2)
    batch["labels"] = torch.tensor([0, 0])
    vis(batch, torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]]))
    right, wrong = (Image.open(p).convert("RGB") for p in sorted(tmp_path.glob("*.png")))
    assert right.getpixel((1, right.height // 2)) == (27, 127, 59)   # green border
    assert wrong.getpixel((1, wrong.height // 2)) == (198, 40, 40)   # red border


def test_per_view_scores_show_the_views_mean(tmp_path):
    captions = []
    vis = Visualizer(str(tmp_path), show=False, classes=["a", "b", "c"])
    vis.draw = lambda inputs, caption, stem: captions.append(caption)
    # average_clips=None: (1 sample, 2 views, 3 classes); view means (0.5, 0.45, 0.05) -> 'a'
    vis(_batch(1), torch.tensor([[[0.1, 0.9, 0.0], [0.9, 0.0, 0.1]]]))
    assert captions[0].top[0] == ("a", pytest.approx(0.5))


def test_visualization_hook_switch(tmp_path):
    assert VisualizationHook(enable=False) is None
    hook = VisualizationHook(enable=True, interval=3)
    assert isinstance(hook, ValidationPictures)
    hook.setup(tmp_path, ["a", "b", "c"], 1)

    class Trainer:
        epoch, by_epoch = 2, True
    on_batch = hook.on_batch(Trainer())
    on_batch(_batch(4), torch.rand(4, 3))
    assert sorted(p.name for p in (tmp_path / "vis_data" / "vis_image").glob("*.png")) == \
        ["000000_v0_2.png", "000003_v3_2.png"]
    with pytest.raises(ConfigError, match="default_hooks.visualization.interval"):
        VisualizationHook(enable=True, interval=0)


def test_show_with_a_display_shows_each_sheet_for_wait_time(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    monkeypatch.setenv("DISPLAY", ":0")
    pauses = []
    monkeypatch.setattr(plt, "pause", pauses.append)
    vis = Visualizer(None, show=True, interval=2, wait_time=0.7)
    vis(_batch(3), torch.rand(3, 3))
    assert pauses == [0.7, 0.7] and not list(tmp_path.iterdir())  # shown, nothing written
