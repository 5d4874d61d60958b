"""RawFrameDecode: RGB frames at full size, and one clear error for every kind of broken frame file."""

import os
import threading

import numpy as np
import pytest
from PIL import Image

from kinetix.data.decoding import RawFrameDecode, UndecodableVideoError


def smooth_frame(h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w]
    base = np.stack([60 + 3 * xs, 40 + 3 * ys, 200 - 2 * xs], axis=-1) + rng.normal(0, 2, (h, w, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def decode(frame_dir, inds, tmpl="img_{:05}.jpg"):
    return RawFrameDecode()(dict(frame_dir=str(frame_dir), frame_inds=np.array(inds), filename_tmpl=tmpl))


def test_frames_are_rgb_at_full_size(tmp_path):
    frame = smooth_frame()
    red = np.zeros_like(frame)
    red[..., 0] = 255
    Image.fromarray(frame).save(tmp_path / "img_00001.jpg", quality=95)
    Image.fromarray(red).save(tmp_path / "img_00002.jpg", quality=95)
    Image.fromarray(frame[..., 1]).save(tmp_path / "img_00003.jpg", quality=95)  # greyscale JPEG
    out = decode(tmp_path, [1, 2, 3])
    assert out["img_shape"] == out["original_shape"] == (48, 64)
    assert all(img.shape == (48, 64, 3) and img.dtype == np.uint8 for img in out["imgs"])
    assert np.abs(out["imgs"][0].astype(int) - frame).mean() < 2  # JPEG q95 error only
    assert out["imgs"][1][..., 0].min() > 240 and out["imgs"][1][..., 1:].max() < 15  # red stays red: RGB, not BGR
    grey = out["imgs"][2]
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])


def test_opencv_without_an_rgb_read_flag_gives_the_same_frames(tmp_path, monkeypatch):
    import kinetix.data.decoding as decoding
    Image.fromarray(smooth_frame(seed=2)).save(tmp_path / "img_00001.jpg", quality=95)
    with_flag = decode(tmp_path, [1])["imgs"][0]
    monkeypatch.setattr(decoding, "_IMREAD_RGB", None)  # OpenCV < 4.11: decode to BGR, then convert
    np.testing.assert_array_equal(decode(tmp_path, [1])["imgs"][0], with_flag)


def test_png_frames_are_exact_and_lose_their_alpha(tmp_path):
    frame = smooth_frame(seed=1)
    rgba = np.dstack([frame, np.full(frame.shape[:2], 7, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "img_00001.png")
    out = decode(tmp_path, [1], tmpl="img_{:05}.png")
    np.testing.assert_array_equal(out["imgs"][0], frame)


def jpeg_bytes(tmp_path):
    Image.fromarray(smooth_frame()).save(tmp_path / "good.jpg", quality=95)
    return (tmp_path / "good.jpg").read_bytes()


@pytest.mark.parametrize("make, reason", [
    (lambda path, data: path.write_bytes(data[: len(data) // 2]), r"img_00002.jpg: truncated JPEG"),
    (lambda path, data: path.write_bytes(data[:-2]), r"img_00002.jpg: truncated JPEG"),
    (lambda path, data: path.write_bytes(b""), r"img_00002.jpg: empty file"),
    (lambda path, data: path.write_bytes(b"\xff\xd8 not really a jpeg \xff\xd9"), r"img_00002.jpg: not an image"),
    (lambda path, data: path.write_bytes(b"GIF89a or anything"), r"img_00002.jpg: not an image"),
    (lambda path, data: path.mkdir(), r"img_00002.jpg: not a regular file"),
    (lambda path, data: None, r"img_00002.jpg: FileNotFoundError: No such file or directory"),
])
def test_a_broken_frame_names_its_file(tmp_path, make, reason):
    data = jpeg_bytes(tmp_path)
    frame_dir = tmp_path / "clip"
    frame_dir.mkdir()
    (frame_dir / "img_00001.jpg").write_bytes(data)
    make(frame_dir / "img_00002.jpg", data)
    assert len(decode(frame_dir, [1])["imgs"]) == 1
    with pytest.raises(UndecodableVideoError, match=reason) as info:
        decode(frame_dir, [1, 2])
    assert str(frame_dir) in str(info.value) and "\n" not in str(info.value)


def test_a_fifo_named_jpg_is_an_error_not_a_wait(tmp_path):
    os.mkfifo(tmp_path / "img_00001.jpg")
    outcome = []

    def run():
        try:
            decode(tmp_path, [1])
        except UndecodableVideoError as exc:
            outcome.append(exc.reason)

    worker = threading.Thread(target=run, daemon=True)  # a daemon: a hang cannot keep pytest alive
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "reading a FIFO frame blocked"
    assert outcome and outcome[0].endswith("img_00001.jpg: not a regular file")


def test_flow_reads_x_and_y_frames_as_two_channels(tmp_path):
    from kinetix.data.transforms import FormatShape

    for i in range(1, 4):  # lossless PNGs with known values: x = 10 * i, y = 10 * i + 1
        Image.fromarray(np.full((6, 8), 10 * i, np.uint8)).save(tmp_path / f"flow_x_{i:05d}.png")
        Image.fromarray(np.full((6, 8), 10 * i + 1, np.uint8)).save(tmp_path / f"flow_y_{i:05d}.png")
    out = RawFrameDecode()(dict(frame_dir=str(tmp_path), frame_inds=np.array([3, 1, 2, 2]),
                                filename_tmpl="flow_{}_{:05d}.png", modality="Flow"))
    assert [img.shape for img in out["imgs"]] == [(6, 8, 2)] * 4
    assert [img[0, 0].tolist() for img in out["imgs"]] == [[30, 31], [10, 11], [20, 21], [20, 21]]
    out = FormatShape("NCHW")(dict(out, clip_len=2, num_clips=2))
    assert out["imgs"].shape == (2, 4, 6, 8)
    with pytest.raises(UndecodableVideoError, match="flow_x_00009"):
        RawFrameDecode()(dict(frame_dir=str(tmp_path), frame_inds=np.array([9]),
                              filename_tmpl="flow_{}_{:05d}.png", modality="Flow"))
