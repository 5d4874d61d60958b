"""Resize and RandomRescale: OpenCV's pixels (what MMAction2 gives) and mmcv's size rules.

The pixel checks compare with independent re-implementations of OpenCV's
nearest and bilinear resizes, written from OpenCV's algorithm: half-pixel
centres, 11-bit fixed-point weights, and the vertical pass's two truncating
shifts. tests/data/test_resize_vs_mmaction2.py compares with MMAction2 itself.
"""

import cv2
import numpy as np
import pytest
from PIL import Image

from kinetix.data.transforms import RandomRescale, Resize
from kinetix.errors import ConfigError, DataError


def _bilinear_taps(src_len: int, dst_len: int):
    """Source indices and 11-bit weights along one axis, as OpenCV computes them."""
    scale = 1.0 / (dst_len / src_len)  # OpenCV: 1 / inv_scale, in double
    pos = ((np.arange(dst_len) + 0.5) * scale - 0.5).astype(np.float32)
    first = np.floor(pos).astype(np.int64)
    frac = pos - first.astype(np.float32)
    w0 = np.rint((np.float32(1) - frac) * np.float32(2048)).astype(np.int64)
    w1 = np.rint(frac * np.float32(2048)).astype(np.int64)
    # Taps past the edge read the edge pixel (the weights stay as computed).
    return np.clip(first, 0, src_len - 1), np.clip(first + 1, 0, src_len - 1), w0, w1


def reference_bilinear(img: np.ndarray, w: int, h: int) -> np.ndarray:
    x0, x1, a0, a1 = _bilinear_taps(img.shape[1], w)
    y0, y1, b0, b1 = _bilinear_taps(img.shape[0], h)
    src = img.astype(np.int64)
    rows = src[:, x0] * a0[None, :, None] + src[:, x1] * a1[None, :, None]  # x 2048
    top, bottom = rows[y0] >> 4, rows[y1] >> 4
    acc = ((b0[:, None, None] * top) >> 16) + ((b1[:, None, None] * bottom) >> 16)
    return ((acc + 2) >> 2).astype(np.uint8)


def reference_nearest(img: np.ndarray, w: int, h: int) -> np.ndarray:
    def taps(src_len: int, dst_len: int) -> np.ndarray:
        step = 1.0 / (dst_len / src_len)  # OpenCV multiplies by 1 / inv_scale (not dividing changes floors)
        return np.minimum(np.floor(np.arange(dst_len) * step).astype(np.int64), src_len - 1)
    return img[taps(img.shape[0], h)][:, taps(img.shape[1], w)]


def video_like(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w]
    img = (128 + 90 * np.sin(xs / 5.0) * np.cos(ys / 9.0))[..., None] + rng.normal(0, 25, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def resize(img: np.ndarray, transform) -> np.ndarray:
    return transform(dict(imgs=[img], img_shape=img.shape[:2]))["imgs"][0]


def size_pairs(n: int, seed: int):
    """Random shrinks, enlargements and mixes. Exact halving of both sides is left out:
    there OpenCV's bilinear switches to its 2x2 box average (same pixels as MMAction2 still)."""
    rng = np.random.default_rng(seed)
    while n:
        (src_h, src_w), (h, w) = rng.integers(2, 70, 2), rng.integers(1, 90, 2)
        if (src_w, src_h) != (2 * w, 2 * h):
            n -= 1
            yield int(src_h), int(src_w), int(h), int(w)


def test_bilinear_is_opencvs_fixed_point_bilinear():
    for k, (src_h, src_w, h, w) in enumerate(size_pairs(60, seed=0)):
        img = np.random.default_rng(k).integers(0, 256, (src_h, src_w, 3), dtype=np.uint8)
        out = resize(img, Resize((w, h), keep_ratio=False))
        assert out.dtype == np.uint8
        np.testing.assert_array_equal(out, reference_bilinear(img, w, h), err_msg=f"{src_w}x{src_h} -> {w}x{h}")


def test_nearest_is_opencvs_nearest():
    for k, (src_h, src_w, h, w) in enumerate(size_pairs(40, seed=1)):
        img = np.random.default_rng(k).integers(0, 256, (src_h, src_w, 3), dtype=np.uint8)
        out = resize(img, Resize((w, h), keep_ratio=False, interpolation="nearest"))
        np.testing.assert_array_equal(out, reference_nearest(img, w, h), err_msg=f"{src_w}x{src_h} -> {w}x{h}")


def test_a_crop_view_resizes_like_its_copy():
    full = video_like(256, 340)
    view = full[17:209, 40:264]  # what MultiScaleCrop hands to Resize(224, 224)
    out = resize(view, Resize((224, 224), keep_ratio=False))
    np.testing.assert_array_equal(out, reference_bilinear(np.ascontiguousarray(view), 224, 224))


def test_pil_antialiasing_is_what_we_no_longer_do():
    img = video_like(480, 640)
    out = resize(img, Resize((-1, 256)))
    assert out.shape == (256, 341, 3)
    np.testing.assert_array_equal(out, reference_bilinear(img, 341, 256))
    pil = np.asarray(Image.fromarray(img).resize((341, 256), Image.Resampling.BILINEAR))
    assert np.abs(pil.astype(int) - out).max() > 30  # PIL averages the noise away when shrinking


# mmcv/image/geometric.py's cv2_interp_codes: the table MMAction2's Resize goes through.
MMCV_FLAGS = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
              "area": cv2.INTER_AREA, "lanczos": cv2.INTER_LANCZOS4}


@pytest.mark.parametrize("name", sorted(MMCV_FLAGS))
def test_interpolation_names_mean_mmcvs_opencv_flags(name):
    img = video_like(61, 97)
    outputs = {other: cv2.resize(img, (150, 40), interpolation=flag) for other, flag in MMCV_FLAGS.items()}
    ours = resize(img, Resize((150, 40), keep_ratio=False, interpolation=name))
    assert [other for other, out in outputs.items() if np.array_equal(out, ours)] == [name]


@pytest.mark.parametrize("src_wh, scale, keep_ratio, expected_wh", [
    ((641, 480), (-1, 256), True, (342, 256)),   # 341.87 rounds up: int(w * f + 0.5), not int(w * f)
    ((256, 340), (-1, 256), True, (256, 340)),   # portrait: the short side is the width
    ((640, 480), (340, 256), True, (340, 255)),  # fits inside (340, 256)
    ((341, 255), 0.5, True, (171, 128)),         # 170.5 -> 171: half up, not Python's round-half-even
    ((340, 256), (224, 224), False, (224, 224)),
    ((97, 61), (171, 128), False, (171, 128)),
])
def test_new_size_follows_mmcv_rescale_size(src_wh, scale, keep_ratio, expected_wh):
    (w, h), (new_w, new_h) = src_wh, expected_wh
    out = Resize(scale, keep_ratio=keep_ratio)(dict(imgs=[video_like(h, w)], img_shape=(h, w)))
    assert out["img_shape"] == (new_h, new_w) and out["imgs"][0].shape == (new_h, new_w, 3)
    np.testing.assert_array_equal(out["scale_factor"], np.array([new_w / w, new_h / h], np.float32))


def test_random_rescale_draws_the_short_edge_like_mmaction2():
    np.random.seed(3)
    expected = np.random.randint(256, 321)  # MMAction2 draws randint(low, high + 1) from np.random
    np.random.seed(3)
    out = RandomRescale((256, 320))(dict(imgs=[video_like(480, 640)], img_shape=(480, 640)))
    assert out["short_edge"] == expected and out["img_shape"][0] == expected
    with pytest.raises(ConfigError, match="RandomRescale.interpolation"):
        RandomRescale((256, 320), interpolation="cubic")


def test_single_channel_frames_keep_their_channel_axis():
    flow = np.arange(60 * 80, dtype=np.uint8).reshape(60, 80, 1) % 251
    out = resize(flow, Resize((40, 30), keep_ratio=False))
    assert out.shape == (30, 40, 1)
    np.testing.assert_array_equal(out, reference_bilinear(flow, 40, 30))


def test_a_resize_to_nothing_is_a_data_error():
    with pytest.raises(DataError, match=r"makes a 80x60 frame 0x0 \(v.mp4\)"):
        Resize(0.001)(dict(imgs=[video_like(60, 80)], img_shape=(60, 80), filename="v.mp4"))
    with pytest.raises(ConfigError, match="Resize.interpolation"):
        Resize((-1, 256), interpolation="cubic")
