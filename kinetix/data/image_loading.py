"""LoadRGBFromFile: one still image (``img_path``) as ``img``, for image datasets mixed into
video training (MMAction2's omnisource configs)."""

from __future__ import annotations

from typing import Any

import numpy as np

from kinetix.data.decoding import UndecodableVideoError, _check_io_backend, _read_frame
from kinetix.errors import ConfigError
from kinetix.registry import TRANSFORMS

_COLOR_TYPES = ("color", "grayscale")


@TRANSFORMS.register
class LoadRGBFromFile:
    """Read ``results['img_path']`` into ``img`` (HxWx3 RGB uint8, or HxW for ``grayscale``).

    Sets ``img_shape`` and ``ori_shape``. The pixels are MMAction2's (OpenCV
    decoding, RGB order). A file that cannot be read is skipped like an
    undecodable video, with ``ignore_empty`` or without: kinetix never
    stops a run for one bad sample.
    """

    def __init__(self, to_float32: bool = False, color_type: str = "color", imdecode_backend: str = "cv2",
                 io_backend: str = "disk", ignore_empty: bool = False, **file_client_args: Any) -> None:
        if color_type not in _COLOR_TYPES:
            raise ConfigError(f"LoadRGBFromFile.color_type must be one of {_COLOR_TYPES}, got {color_type!r}")
        if imdecode_backend not in ("cv2", "pillow", "turbojpeg"):
            raise ConfigError(f"LoadRGBFromFile.imdecode_backend must be 'cv2', 'pillow' or 'turbojpeg', "
                              f"got {imdecode_backend!r}")
        _check_io_backend("LoadRGBFromFile", io_backend, file_client_args)
        self.to_float32 = to_float32
        self.color_type = color_type
        self.ignore_empty = ignore_empty

    def __call__(self, results: dict) -> dict:
        path = results["img_path"]
        try:
            img = _read_frame(path, grey=self.color_type == "grayscale")
        except OSError as exc:
            raise UndecodableVideoError(path, f"{type(exc).__name__}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise UndecodableVideoError(path, str(exc)) from None
        if self.to_float32:
            img = img.astype(np.float32)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results
