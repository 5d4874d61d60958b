"""kinetix.apis: init_recognizer / inference_recognizer on a synthetic video, as MMAction2's API."""

from pathlib import Path

import pytest
import torch

from kinetix.apis import ActionResult, inference_recognizer, init_recognizer
from kinetix.config import load_config
from kinetix.data import build_dataset, collate
from kinetix.errors import CheckpointError, ConfigError, DataError

REPO = Path(__file__).resolve().parents[2]
TSM = REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py"
SMALL = {"model.backbone.base_channels": 8, "model.cls_head.in_channels": 64}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(3)
    model = init_recognizer(str(TSM), cfg_options=SMALL)
    path = tmp_path_factory.mktemp("api") / "tsm.pth"
    torch.save({"state_dict": model.state_dict()}, path)
    return path


def test_same_scores_as_the_test_set_path(checkpoint, tiny_synthetic):
    model = init_recognizer(str(TSM), str(checkpoint), device="cpu", cfg_options=SMALL)
    assert not model.training and model.cfg["model"]["backbone"]["base_channels"] == 8
    video = tiny_synthetic / "videos/test/rotate_clockwise_0000.mp4"
    result = inference_recognizer(model, str(video))
    assert isinstance(result, ActionResult) and result.pred_score.shape == (8,)
    assert result.pred_label.tolist() == [int(result.pred_score.argmax())]
    assert result.inputs.shape == (8, 3, 56, 56) and result.inputs.dtype == torch.uint8
    # what test.py computes for the same video: the dataset's sample through the same model
    cfg = load_config(TSM)
    dataset_cfg = dict(cfg["test_dataloader"]["dataset"], ann_file=str(tiny_synthetic / "test_list_videos.txt"),
                       data_prefix=dict(video=str(tiny_synthetic / "videos")))
    dataset = build_dataset(dataset_cfg, "test_dataloader.dataset")
    index = [Path(info["filename"]).name for info in dataset.data_list].index(video.name)
    with torch.no_grad():
        expected = model(collate([dataset[index]]), mode="predict")[0]
    torch.testing.assert_close(result.pred_score, expected)
    assert result.topk(3)[0] == (int(expected.argmax()), pytest.approx(float(expected.max())))


def test_a_dict_input_goes_through_the_pipeline(checkpoint, tiny_synthetic):
    model = init_recognizer(str(TSM), str(checkpoint), cfg_options=SMALL)
    video = str(tiny_synthetic / "videos/test/move_left_0000.mp4")
    from_dict = inference_recognizer(model, dict(filename=video, start_index=0, modality="RGB"))
    torch.testing.assert_close(from_dict.pred_score, inference_recognizer(model, video).pred_score)


def test_errors(checkpoint, tmp_path):
    model = init_recognizer(str(TSM), cfg_options=SMALL)  # no checkpoint: random weights
    with pytest.raises(DataError, match="nope.mp4: no such video file"):
        inference_recognizer(model, str(tmp_path / "nope.mp4"))
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(DataError, match="bad.mp4"):
        inference_recognizer(model, str(tmp_path / "bad.mp4"))
    with pytest.raises(CheckpointError):
        init_recognizer(str(TSM), str(tmp_path / "missing.pth"), cfg_options=SMALL)
    with pytest.raises(ConfigError, match="config must be a file name or a config dict"):
        init_recognizer(42)


def test_engine_never_imports_apis():
    engine = REPO / "kinetix/engine"
    assert not [p.name for p in engine.glob("*.py") if "kinetix.apis" in p.read_text()]
