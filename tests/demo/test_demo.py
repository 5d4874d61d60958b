"""demo/demo.py end to end: the top-5 printed, annotated GIF and MP4 written and decodable."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import av
import pytest
import torch
from PIL import Image

from kinetix.apis import init_recognizer
from kinetix.data import SYNTHETIC_CLASSES

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo/demo.py"
TSM = REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py"
SMALL = ["model.backbone.base_channels=8", "model.cls_head.in_channels=64"]

spec = importlib.util.spec_from_file_location("demo", DEMO)
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = init_recognizer(str(TSM), cfg_options={k: int(v) for k, v in (o.split("=") for o in SMALL)})
    path = tmp_path_factory.mktemp("demo") / "tsm.pth"
    torch.save({"state_dict": model.state_dict()}, path)
    return path


def _frames(video: Path) -> int:
    with av.open(str(video)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_demo_writes_an_annotated_video(suffix, checkpoint, tiny_synthetic, tmp_path):
    video = tiny_synthetic / "videos/test/approach_0001.mp4"
    out = tmp_path / f"out{suffix}"
    done = subprocess.run([sys.executable, str(DEMO), str(video), str(TSM), str(checkpoint),
                           str(tiny_synthetic / "classes.txt"), "--device", "cpu", "--out-filename", str(out),
                           "--target-resolution", "160", "-1", "--cfg-options", *SMALL],
                          capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    top = lines[lines.index("The top-5 labels with corresponding scores are:") + 1:][:5]
    assert len(top) == 5 and all(line.split(": ")[0] in SYNTHETIC_CLASSES for line in top)
    scores = [float(line.split(": ")[1]) for line in top]
    assert scores == sorted(scores, reverse=True)
    if suffix == ".gif":
        gif = Image.open(out)
        assert gif.n_frames == _frames(video) and gif.size == (160, 160)
    else:
        with av.open(str(out)) as container:
            frames = list(container.decode(video=0))
        assert len(frames) == _frames(video) and (frames[0].width, frames[0].height) == (160, 160)
        # the text box is drawn on every frame: its dark top-left corner differs from the video's
        first = frames[0].to_ndarray(format="rgb24")
        assert first[8:30, 8:60].mean() < 100


@pytest.mark.parametrize("case, says", [
    ("video", "no such video file"),
    ("label", "has 2 class names but the model predicts 8"),
    ("out", "must end in .gif or .mp4"),
    ("resolution", "--target-resolution -1 -1"),
])
def test_errors_are_one_line(case, says, checkpoint, tiny_synthetic, tmp_path, capsys):
    video = str(tiny_synthetic / "videos/test/approach_0001.mp4")
    labels = tiny_synthetic / "classes.txt"
    extra = []
    if case == "video":
        video = str(tmp_path / "nope.mp4")
    elif case == "label":
        labels = tmp_path / "two.txt"
        labels.write_text("a\nb\n")
    elif case == "out":
        extra = ["--out-filename", str(tmp_path / "out.avi")]
    else:
        extra = ["--out-filename", str(tmp_path / "out.gif"), "--target-resolution", "-1", "-1"]
    assert demo.main([video, str(TSM), str(checkpoint), str(labels), "--device", "cpu", *extra,
                      "--cfg-options", *SMALL]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1
