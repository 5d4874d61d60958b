"""LoadRGBFromFile (MMAction2's pixels are checked in tests/data/test_sampling_vs_mmaction2.py)."""

import cv2
import numpy as np
import pytest

from kinetix.data.decoding import UndecodableVideoError
from kinetix.errors import ConfigError
from kinetix.registry import TRANSFORMS, build


def test_loads_rgb_grey_and_float(tmp_path):
    rgb = np.random.RandomState(0).randint(0, 256, (6, 9, 3)).astype(np.uint8)
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, rgb[..., ::-1])  # OpenCV writes BGR
    out = build(dict(type="LoadRGBFromFile"), TRANSFORMS, "pipeline")(dict(img_path=path))
    np.testing.assert_array_equal(out["img"], rgb)
    assert out["img_shape"] == out["ori_shape"] == (6, 9)
    grey = build(dict(type="LoadRGBFromFile", color_type="grayscale", to_float32=True), TRANSFORMS,
                 "pipeline")(dict(img_path=path))["img"]
    assert grey.shape == (6, 9) and grey.dtype == np.float32


def test_bad_file_and_arguments(tmp_path):
    loader = build(dict(type="LoadRGBFromFile"), TRANSFORMS, "pipeline")
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    for name in ("missing.jpg", "bad.jpg"):
        with pytest.raises(UndecodableVideoError, match=name) as info:
            loader(dict(img_path=str(tmp_path / name)))
        assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="color_type"):
        build(dict(type="LoadRGBFromFile", color_type="unchanged"), TRANSFORMS, "pipeline")
