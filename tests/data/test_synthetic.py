"""The synthetic temporal dataset: determinism, list formats, class semantics, CLI."""

import hashlib
import importlib.util
import os
import re

import numpy as np
import pytest
from PIL import Image

from kinetix.data import SYNTHETIC_CLASSES, VideoReader, generate_synthetic
from kinetix.data.synthetic import render_video

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tree_digest(root):
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, root).encode())
            digest.update(open(path, "rb").read())
    return digest.hexdigest()


def tiny(path, seed):
    return generate_synthetic(str(path), seed=seed, num_train=1, num_val=1, num_test=1, size=32, frames=(8, 10))


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    info = tiny(tmp_path / "a", 0)
    tiny(tmp_path / "b", 0)
    tiny(tmp_path / "c", 1)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "c")
    assert info["num_videos"] == dict(train=8, val=8, test=8)
    assert info["classes"] == list(SYNTHETIC_CLASSES) and len(SYNTHETIC_CLASSES) == 8


def test_list_formats_and_files(tmp_path):
    out = tmp_path / "d"
    tiny(out, 0)
    assert open(out / "classes.txt").read().split() == list(SYNTHETIC_CLASSES)
    for split in ("train", "val", "test"):
        lines = open(out / f"{split}_list_videos.txt").read().splitlines()
        assert len(lines) == 8
        for label, line in enumerate(lines):
            path, lab = line.split()
            assert re.fullmatch(rf"{split}/\w+_\d{{4}}\.mp4", path) and int(lab) == label
            reader = VideoReader(str(out / "videos" / path))
            assert 8 <= reader.total_frames <= 10 and (reader.height, reader.width) == (32, 32)
            reader.close()
        raw = open(out / f"{split}_list_rawframes.txt").read().splitlines()
        for label, line in enumerate(raw):
            frame_dir, total, lab = line.split()
            files = sorted(os.listdir(out / "rawframes" / frame_dir))
            assert int(lab) == label and len(files) == int(total)
            assert files[0] == "img_00001.jpg" and files[-1] == f"img_{int(total):05d}.jpg"


def centroid_x(frame):
    background = np.median(frame.reshape(-1, 3), axis=0)
    mask = np.abs(frame.astype(float) - background).sum(-1) > 60
    return np.nonzero(mask)[1].mean()


def area(frame):
    background = np.median(frame.reshape(-1, 3), axis=0)
    return (np.abs(frame.astype(float) - background).sum(-1) > 60).sum()


def test_pair_classes_are_time_reversals(tmp_path):
    out = tmp_path / "e"
    tiny(out, 3)
    frames = {}
    for name in SYNTHETIC_CLASSES:
        folder = out / "rawframes" / "train" / f"{name}_0000"
        files = sorted(os.listdir(folder))
        frames[name] = [np.asarray(Image.open(folder / f)) for f in (files[0], files[-1])]
    assert centroid_x(frames["move_left"][0]) > centroid_x(frames["move_left"][1])
    assert centroid_x(frames["move_right"][0]) < centroid_x(frames["move_right"][1])
    assert area(frames["approach"][0]) < area(frames["approach"][1])
    assert area(frames["recede"][0]) > area(frames["recede"][1])
    assert area(frames["appear"][0]) < area(frames["appear"][1])
    assert area(frames["disappear"][0]) > area(frames["disappear"][1])


@pytest.mark.parametrize("motion", ["translate", "rotate", "scale", "fade"])
def test_render_video_lengths(motion):
    clip = render_video(np.random.default_rng(0), motion, size=32, frames=(16, 24))
    assert 16 <= len(clip) <= 24 and clip[0].shape == (32, 32, 3) and clip[0].dtype == np.uint8


def test_cli(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("gen_cli", os.path.join(ROOT, "tools", "data", "generate_synthetic.py"))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    assert cli.main(["--out", str(tmp_path / "f"), "--seed", "2", "--train", "1", "--val", "1", "--test", "1",
                     "--size", "32", "--frames", "8,9", "--no-rawframes"]) == 0
    printed = capsys.readouterr().out
    assert "wrote 24 videos" in printed and "train_list_videos.txt" in printed
    assert not (tmp_path / "f" / "rawframes").exists()
    assert cli.main(["--out", str(tmp_path / "g"), "--size", "33"]) == 2
