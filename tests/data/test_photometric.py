"""ColorJitter and RandomErasing (MMAction2's arguments; the pixels are compared with
MMAction2 itself in tests/data/test_sampling_vs_mmaction2.py)."""

import cv2
import numpy as np
import pytest

from kinetix.data.photometric import ColorJitter, RandomErasing
from kinetix.errors import ConfigError, DataError
from kinetix.registry import TRANSFORMS, build


def clip(t=3, h=20, w=30, seed=0):
    return list(np.random.RandomState(seed).randint(0, 256, (t, h, w, 3)).astype(np.uint8))


def test_brightness_only_scales_every_frame_by_one_draw():
    imgs = clip()
    np.random.seed(4)
    out = ColorJitter(brightness=0.5, contrast=0, saturation=0, hue=0)(dict(imgs=imgs))["imgs"]
    np.random.seed(4)
    np.random.permutation(4)  # the order, drawn at build time
    b = np.random.uniform(0.5, 1.5)
    for img, got in zip(imgs, out):
        np.testing.assert_array_equal(got, np.clip(img.astype(np.float32) * b, 0, 255).astype(np.uint8))


def test_negative_hue_shift_wraps_around():
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255  # hue 0
    out = ColorJitter(brightness=0, contrast=0, saturation=0, hue=(-0.1, -0.1))(dict(imgs=[red]))["imgs"][0]
    hue = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)[..., 0]
    assert abs(int(hue[0, 0]) - (0 - int(0.1 * 255)) % 180) <= 1  # 155, not an overflow


def test_color_jitter_arguments():
    assert ColorJitter(brightness=0.3).brightness == (0.7, 1.3)
    with pytest.raises(ConfigError, match="ColorJitter.hue"):
        ColorJitter(hue=0.7)
    with pytest.raises(ConfigError, match="ColorJitter.contrast"):
        ColorJitter(contrast=(0.5, 2.5))
    with pytest.raises(DataError, match="RGB"):
        ColorJitter()(dict(imgs=[np.zeros((4, 4, 2), np.uint8)]))


def test_erasing_fills_one_box_in_every_frame_and_leaves_the_input_alone():
    imgs = clip()
    before = [img.copy() for img in imgs]
    np.random.seed(0)
    out = build(dict(type="RandomErasing", erase_prob=1.0, fill_color=7), TRANSFORMS, "pipeline")(
        dict(imgs=imgs))["imgs"]
    for img, orig in zip(out, before):
        changed = np.any(img != orig, axis=-1)
        ys, xs = np.nonzero(changed)
        box = img[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        assert (box == 7).all()  # one filled rectangle
    boxes = {tuple(np.argwhere(np.any(img != orig, axis=-1))[[0, -1]].ravel()) for img, orig in zip(out, before)}
    assert len(boxes) == 1  # the same box in every frame
    for img, orig in zip(imgs, before):
        np.testing.assert_array_equal(img, orig)


def test_erasing_noise_is_new_per_frame_and_prob_zero_is_identity():
    imgs = [np.zeros((20, 30, 3), np.uint8)] * 2  # the same array twice, as a decoder cache gives
    np.random.seed(1)
    out = RandomErasing(erase_prob=1.0, mode="rand")(dict(imgs=imgs))["imgs"]
    assert out[0].any() and not np.array_equal(out[0], out[1])
    assert not imgs[0].any()
    same = RandomErasing(erase_prob=0.0)(dict(imgs=imgs))["imgs"]
    assert same is imgs


def test_erasing_arguments():
    assert RandomErasing(aspect_range=0.5).aspect_range == (0.5, 2.0)
    with pytest.raises(ConfigError, match="RandomErasing.mode"):
        RandomErasing(mode="mean")
    with pytest.raises(ConfigError, match="min_area_ratio"):
        RandomErasing(min_area_ratio=0.5, max_area_ratio=0.2)
    with pytest.raises(ConfigError, match="fill_color"):
        RandomErasing(fill_color=(1, 2))
