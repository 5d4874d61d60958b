import torch
import pytest

from kinetix.engine.visualize import Visualizer, frame_strip


def _batch(n: int, shape=(8, 3, 16, 16)) -> dict:
    return {"inputs": torch.randint(0, 255, (n, *shape), dtype=torch.uint8),
            "labels": torch.arange(n) % 3, "indices": torch.arange(n),
            "filenames": [f"v{i}.mp4" for i in range(n)]}


def test_frame_strip_shapes():
    assert frame_strip(torch.zeros(8, 3, 16, 16, dtype=torch.uint8)).shape == (16, 128, 3)
    # NCTHW: the first view's 4 frames
    assert frame_strip(torch.zeros(2, 3, 4, 16, 20, dtype=torch.uint8)).shape == (16, 80, 3)


def test_show_dir_every_interval_and_show_without_display(tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.warns(UserWarning, match="no display"):
        vis = Visualizer(str(tmp_path), show=True, interval=2, classes=["a", "b", "c"])
    vis(_batch(5), torch.rand(5, 3))
    vis(_batch(3), torch.rand(3, 3))
    # samples 1, 3, 5, 7 of 8 (every 2nd, counted across batches)
    assert len(list(tmp_path.glob("*.png"))) == 4


def test_per_view_scores_show_the_views_mean(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr("kinetix.engine.visualize.ImageDraw.ImageDraw.text",
                        lambda self, xy, text, **kw: drawn.append(text))
    vis = Visualizer(str(tmp_path), show=False, classes=["a", "b", "c"])
    # average_clips=None: (1 sample, 2 views, 3 classes); view means (0.5, 0.45, 0.05) -> 'a'
    vis(_batch(1), torch.tensor([[[0.1, 0.9, 0.0], [0.9, 0.0, 0.1]]]))
    assert drawn and drawn[0].startswith("pred a (0.50)")
