"""Optional video decoding backends behind VideoReader's interface: torchcodec and decord.

PyAV (:class:`kinetix.data.decoding.VideoReader`) is the default and the
reference: it is exact on every kind of file the frame-exactness test knows.
The others are there for users who want them:

* ``torchcodec`` (PyTorch's FFmpeg decoder) in its exact seek mode, which
  scans the file once to index every frame, as VideoReader does. With torch
  2.13.0 on the CPU only ``torchcodec==0.13.0`` works, and it loads FFmpeg's
  shared libraries from the system (FFmpeg 5.1: Debian's ``libavdevice59``).
* ``decord``, what MMAction2 uses.

Both return wrong frames on some files, as measured by
``tools/analysis_tools/check_frame_exact.py`` (torchcodec 0.13.0 with FFmpeg
5.1: MPEG-TS and AVI; decord 0.6.0: open GOPs, HEVC, mp4 edit lists, MPEG-TS,
AVI), so choosing one draws a warning that says so.

A backend that is asked for but cannot be imported falls back to PyAV with one
warning per process. Every error a backend raises becomes
:class:`UndecodableVideoError`, so a bad file is a skipped sample whatever decodes it.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from typing import Any

import numpy as np

from kinetix.data.decoding import UndecodableVideoError, VideoReader, regular_file_stat
from kinetix.errors import ConfigError

BACKENDS = ("pyav", "torchcodec", "decord")
_INSTALL = {
    "torchcodec": "pip install torchcodec==0.13.0 (the build for torch 2.13.0 on the CPU; it needs "
                  "FFmpeg's shared libraries, e.g. apt-get install libavdevice59)",
    "decord": "pip install decord",
}
# Kinds of file on which a backend returned wrong frames (tests/data/test_frame_exact.py).
_WRONG_ON = {"torchcodec": "MPEG-TS, AVI",
             "decord": "open GOPs, HEVC, mp4 edit lists, MPEG-TS, AVI"}
_warned: set[str] = set()  # backends already warned about in this process


def check_backend(name: Any, key_path: str) -> str:
    """``name`` if it is a backend kinetix knows, else a one-line ConfigError naming ``key_path``."""
    if name not in BACKENDS:
        raise ConfigError(f"{key_path}: unknown video backend {name!r} (use one of {', '.join(BACKENDS)})")
    return name


@functools.lru_cache(maxsize=None)
def unusable_reason(name: str) -> str | None:
    """Why backend ``name`` cannot be used in this process, or None when it can."""
    if name == "pyav":
        return None
    try:
        importlib.import_module(name)
    # torchcodec raises RuntimeError/OSError, not ImportError, when FFmpeg's libraries are missing.
    except Exception as exc:  # noqa: BLE001
        return " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    return None


def resolve_backend(name: str) -> str:
    """The backend that will decode when ``name`` is asked for: ``name``, or 'pyav' if it is missing.

    Warns once per process per backend: about the fallback, or about the wrong frames it returns.
    """
    reason = unusable_reason(name)
    if reason is not None:
        _warn_once(name, f"video backend {name!r} is not usable ({reason}); decoding with PyAV instead. "
                         f"To use it: {_INSTALL[name]}")
        return "pyav"
    if name in _WRONG_ON:
        _warn_once(name, f"video backend {name!r} returns wrong frames on some files ({_WRONG_ON[name]}); "
                         f"backend='pyav' (the default) is frame-exact")
    return name


def _warn_once(name: str, message: str) -> None:
    if name not in _warned:
        _warned.add(name)
        warnings.warn(message, stacklevel=3)


def open_video(path: str, backend: str = "pyav", num_threads: int = 1) -> Any:
    """Open ``path`` with ``backend`` (already resolved); the reader has VideoReader's interface."""
    if backend == "pyav":
        return VideoReader(path, num_threads=num_threads)
    return {"torchcodec": TorchCodecReader, "decord": DecordReader}[backend](path, num_threads=num_threads)


def _failure(path: str, exc: BaseException) -> UndecodableVideoError:
    """A backend's exception as a one-line UndecodableVideoError (decord's carry a C++ backtrace)."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return UndecodableVideoError(path, text if len(text) <= 300 else text[:297] + "...")


def _checked_indices(path: str, indices: Any, total: int) -> tuple[list[int], list[int]]:
    """(wanted indices as asked, the sorted unique ones to decode), after a range check."""
    wanted = [int(i) for i in np.asarray(indices).reshape(-1)]
    if not wanted:
        raise UndecodableVideoError(path, "no frame indices to decode")
    for i in wanted:
        if not 0 <= i < total:
            raise UndecodableVideoError(path, f"frame index {i} out of range (video has {total} frames)")
    return wanted, sorted(set(wanted))


class _BackendReader:
    """What both backends share: the file check, error wrapping, index order and threads."""

    frames_decoded = None  # neither backend tells how many frames it decoded

    def __init__(self, path: str, num_threads: int = 1) -> None:
        self.path = str(path)
        self.num_threads = int(num_threads)
        self._decoder: Any = None
        regular_file_stat(self.path)
        try:
            self._open()
        except Exception as exc:  # noqa: BLE001 - any backend failure is an undecodable video
            self.close()
            raise _failure(self.path, exc) from None
        if self.total_frames < 1:
            self.close()
            raise UndecodableVideoError(self.path, "video stream has no frames")

    def _open(self) -> None:
        raise NotImplementedError

    def _decode(self, unique: list[int]) -> np.ndarray:
        """Frames ``unique`` (sorted, no repeats) as an (N, H, W, 3) uint8 RGB array."""
        raise NotImplementedError

    def use_threads(self, num_threads: int) -> None:
        """Decode with ``num_threads`` threads (0 = the backend picks); reopens the file."""
        self.num_threads = int(num_threads)
        try:
            self._open()
        except Exception as exc:  # noqa: BLE001
            raise _failure(self.path, exc) from None

    def get_frames(self, indices: Any) -> list[np.ndarray]:
        """RGB uint8 HxWx3 frames for ``indices``, in the order asked, repeats allowed."""
        wanted, unique = _checked_indices(self.path, indices, self.total_frames)
        try:
            batch = self._decode(unique)
        except Exception as exc:  # noqa: BLE001
            raise _failure(self.path, exc) from None
        if batch.shape[0] != len(unique):
            raise UndecodableVideoError(self.path, f"asked for {len(unique)} frames, got {batch.shape[0]}")
        row = {index: k for k, index in enumerate(unique)}
        return [batch[row[i]] for i in wanted]

    def close(self) -> None:
        self._decoder = None  # both backends close the file when their decoder is freed

    def __len__(self) -> int:
        return self.total_frames


class TorchCodecReader(_BackendReader):
    """torchcodec's VideoDecoder in exact seek mode (frames found from a scan of every packet)."""

    def _open(self) -> None:
        from torchcodec.decoders import VideoDecoder

        self._decoder = VideoDecoder(self.path, seek_mode="exact", dimension_order="NHWC",
                                     num_ffmpeg_threads=self.num_threads)
        meta = self._decoder.metadata
        self.total_frames = int(meta.num_frames or 0)
        self.fps = float(meta.average_fps) if meta.average_fps else None

    def _decode(self, unique: list[int]) -> np.ndarray:
        return self._decoder.get_frames_at(unique).data.numpy()


class DecordReader(_BackendReader):
    """decord's VideoReader, read with ``get_batch`` (not exact on every file: see the module docstring)."""

    def _open(self) -> None:
        import decord

        self._decoder = decord.VideoReader(self.path, num_threads=self.num_threads)
        self.total_frames = len(self._decoder)
        fps = self._decoder.get_avg_fps()
        self.fps = float(fps) if fps else None

    def _decode(self, unique: list[int]) -> np.ndarray:
        return self._decoder.get_batch(unique).asnumpy()
