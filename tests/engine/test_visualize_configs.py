"""The pictures work with the test pipeline of every shipped recognition config, unchanged."""

from pathlib import Path

import pytest
import torch
from PIL import Image

from kinetix.config import load_config
from kinetix.data import build_dataset, collate
from kinetix.engine.visualize import Visualizer, pipeline_rows

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (REPO / "configs/recognition").rglob("*.py"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_every_shipped_config_draws(config, tiny_synthetic, tmp_path):
    cfg = load_config(config)
    dataset_cfg = dict(cfg["test_dataloader"]["dataset"])
    kind = "rawframes" if dataset_cfg["type"] == "RawframeDataset" else "videos"
    dataset_cfg.update(ann_file=str(tiny_synthetic / f"test_list_{kind}.txt"), data_root=None,
                       data_prefix={"img" if kind == "rawframes" else "video": str(tiny_synthetic / kind)})
    # The synthetic lists are space-separated with MMAction2's default frame names; some
    # configs read comma-separated lists (UniFormer) or other frame names (sthv1).
    for key in ("delimiter", "filename_tmpl"):
        dataset_cfg.pop(key, None)
    dataset = build_dataset(dataset_cfg, "test_dataloader.dataset")
    batch = collate([dataset[0]])
    head = cfg["model"]["cls_head"]
    num_classes = head.get("num_classes", head.get("video_classes"))  # OmniHead: video_classes
    scores = torch.softmax(torch.randn(1, num_classes), dim=1)
    vis = Visualizer(tmp_path, show=False, classes=None, rows=pipeline_rows(dataset_cfg["pipeline"]))
    vis(batch, scores)
    sheet, gif = Image.open(tmp_path / "000000_move_left_0000.png"), Image.open(tmp_path / "000000_move_left_0000.gif")
    assert sheet.width >= 480 and gif.n_frames >= 1
