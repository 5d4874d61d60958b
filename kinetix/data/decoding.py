"""Frame-accurate video decoding with PyAV, and JPEG frame-folder reading.

One decoder serves the three families of type names users write
(``DecordInit``/``DecordDecode``, ``PyAVInit``/``PyAVDecode``,
``OpenCVInit``/``OpenCVDecode``): they all mean "open this video, then give me
these frame indices", and one well-tested implementation beats three.

How :class:`VideoReader` stays exact *and* cheap:

* At open time it demuxes every packet of the video stream without decoding
  (cheap: no pixels are produced). Sorting the packet pts gives the
  presentation order, so frame ``i`` is the frame with the ``i``-th smallest
  pts and ``total_frames`` is exact, unlike container metadata, which is often
  missing or wrong.
* At decode time the wanted indices are grouped by the keyframe segment they
  fall in. For each group it seeks to that keyframe and decodes forward only up
  to the last wanted frame of the group, then matches decoded frames by pts.
  Sparse sampling (TSN: 8 frames out of 300) thus decodes a few GOPs instead of
  the whole video.

Anything that goes wrong with a video file (cannot open, no video stream,
decode error, a wanted frame that never comes out) raises
:class:`UndecodableVideoError`, which the datasets turn into a skipped sample.
"""

from __future__ import annotations

import bisect
import os
import stat
import warnings
from typing import Any

import av
from av.video.reformatter import VideoReformatter
import cv2
import numpy as np
from PIL import Image

from kinetix.errors import ConfigError, DataError
from kinetix.registry import TRANSFORMS


class UndecodableVideoError(DataError):
    """A video (or frame folder) cannot be decoded; the sample is skipped."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = " ".join(str(reason).split())  # keep the message on one line
        super().__init__(f"cannot decode {self.path}: {self.reason}")


def _describe(exc: BaseException) -> str:
    """``InvalidDataError: Invalid data ...`` without FFmpeg's errno and the repeated path."""
    text = getattr(exc, "strerror", None) or str(exc)
    return f"{type(exc).__name__}: {text}"


class _NoFramePts(Exception):
    """Decoded frames carry no pts: fall back to counting frames from the start."""


class VideoReader:
    """An open video with a packet index; see the module docstring."""

    def __init__(self, path: str, num_threads: int = 1) -> None:
        self.path = str(path)
        self.num_threads = int(num_threads)
        self.frames_decoded = 0  # counts decoded frames, for tests and benchmarks
        # One colour converter for the whole stream: `frame.to_ndarray(format='rgb24')`
        # builds a new one per frame, 4x the cost for the same pixels.
        self._reformatter = VideoReformatter()
        self._container: Any = None
        try:
            self._open()
            self._build_index()
        except UndecodableVideoError:
            self.close()
            raise
        except (av.error.FFmpegError, OSError, ValueError, RuntimeError) as exc:
            self.close()
            raise UndecodableVideoError(self.path, _describe(exc)) from None

    def _open(self) -> None:
        """(Re)open the container: the surest way back to the first frame."""
        self.close()
        # Only regular files: FFmpeg would wait for ever on a FIFO (or a device) named .mp4.
        if not stat.S_ISREG(os.stat(self.path).st_mode):
            raise UndecodableVideoError(self.path, "not a regular file")
        self._container = av.open(self.path)
        if not self._container.streams.video:
            raise UndecodableVideoError(self.path, "no video stream")
        self._stream = self._container.streams.video[0]
        # One thread by default (FFmpeg's default is one per core): DataLoader
        # workers already decode in parallel, and oversubscribed cores only thrash.
        self._stream.codec_context.thread_count = self.num_threads
        if self.num_threads != 1:
            self._stream.codec_context.thread_type = "AUTO"

    def use_threads(self, num_threads: int) -> None:
        """Decode with ``num_threads`` threads (0 = FFmpeg picks); call before decoding."""
        self.num_threads = int(num_threads)
        self._stream.codec_context.thread_count = self.num_threads
        self._stream.codec_context.thread_type = "AUTO"

    def _build_index(self) -> None:
        pts_list: list[int] = []
        key_pts: list[int] = []
        self._has_pts = True
        skipped = 0
        for packet in self._container.demux(self._stream):
            # The final flush packet is empty; empty packets (AVI "drop
            # frames") and discard-flagged ones (cut by an edit list) never
            # come out of the decoder.
            if packet.size == 0 or packet.is_discard:
                skipped += packet.pts is not None
                continue
            if packet.pts is None:
                self._has_pts = False
                pts_list.append(len(pts_list))
                continue
            pts_list.append(int(packet.pts))
            if packet.is_keyframe:
                key_pts.append(int(packet.pts))
        if not pts_list:
            raise UndecodableVideoError(self.path, "video stream has no frames")
        # A cut-off download still opens when its header comes first, but the
        # demuxer silently stops early; the header's frame count gives it away.
        declared = int(self._stream.frames or 0)
        readable = len(pts_list) + skipped
        if declared and readable < declared - max(2, declared // 20):
            raise UndecodableVideoError(self.path, f"truncated file: the container lists {declared} "
                                                   f"frames but only {readable} can be read")
        self.frame_pts = sorted(pts_list)
        if len(set(self.frame_pts)) != len(self.frame_pts):
            self._has_pts = False  # duplicate pts: cannot match frames by pts
        self._pts_to_index = {p: i for i, p in enumerate(self.frame_pts)}
        # Keyframe positions as frame indices, ascending.
        self.key_indices = sorted(self._pts_to_index[p] for p in set(key_pts)
                                  if p in self._pts_to_index) if self._has_pts else []
        self.total_frames = len(self.frame_pts)
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.height = int(self._stream.codec_context.height)
        self.width = int(self._stream.codec_context.width)

    # ------------------------------------------------------------------ decoding
    def get_frames(self, indices: Any, seek: bool = True) -> list[np.ndarray]:
        """Return RGB uint8 HxWx3 frames for ``indices`` (any order, repeats allowed).

        ``seek=False`` decodes from the start instead (for comparison).
        """
        wanted = [int(i) for i in np.asarray(indices).reshape(-1)]
        for i in wanted:
            if not 0 <= i < self.total_frames:
                raise UndecodableVideoError(
                    self.path, f"frame index {i} out of range (video has {self.total_frames} frames)")
        try:
            found = None
            if seek and self._has_pts and self.key_indices:
                try:
                    found = self._decode_seeking(sorted(set(wanted)))
                except _NoFramePts:
                    found = None
            if found is None:
                found = self._decode_sequential(set(wanted))
        except UndecodableVideoError:
            raise
        except (av.error.FFmpegError, OSError, ValueError, RuntimeError, EOFError) as exc:
            raise UndecodableVideoError(self.path, _describe(exc)) from None
        missing = [i for i in wanted if i not in found]
        if missing:
            raise UndecodableVideoError(
                self.path, f"frame {missing[0]} of {self.total_frames} could not be decoded "
                           f"({len(set(missing))} wanted frames missing)")
        frames = [found[i] for i in wanted]
        shape = frames[0].shape
        if any(f.shape != shape for f in frames):
            # The resolution changed mid-stream (spliced clips): bring every
            # frame to the first one's size so the clip can still be stacked.
            frames = [f if f.shape == shape else
                      np.asarray(Image.fromarray(f).resize((shape[1], shape[0]), Image.Resampling.BILINEAR))
                      for f in frames]
        return frames

    def _segment_start(self, index: int) -> int:
        """Index of the keyframe that starts the segment holding ``index`` (0 if none)."""
        pos = bisect.bisect_right(self.key_indices, index) - 1
        return self.key_indices[pos] if pos >= 0 else 0

    def _decode_seeking(self, unique: list[int]) -> dict[int, np.ndarray]:
        groups: dict[int, list[int]] = {}
        for i in unique:
            groups.setdefault(self._segment_start(i), []).append(i)
        found: dict[int, np.ndarray] = {}
        frames_iter = None
        last_index = -2  # index of the last frame that came out of the decoder
        for key, members in sorted(groups.items()):
            # Seek only when it skips something: if the segment starts right
            # after what we just decoded, decoding on is cheaper than a seek
            # (which flushes the decoder).
            if frames_iter is None or key > last_index + 1:
                self._container.seek(self.frame_pts[key], stream=self._stream, backward=True)
                frames_iter = self._container.decode(self._stream)
            last_index = self._decode_until(frames_iter, set(members), members[-1], found)
            if any(m not in found for m in members):
                # The seek landed after the frame (MPEG-TS seeks are approximate;
                # open GOPs): get everything still missing in one pass from the start.
                rest = [i for i in unique if i not in found]
                self._open()
                self._decode_until(self._container.decode(self._stream), set(rest), rest[-1], found)
                break
        return found

    def _decode_until(self, frames_iter: Any, members: set[int], stop: int,
                      found: dict[int, np.ndarray]) -> int:
        """Decode from ``frames_iter`` until frame index ``stop`` has passed."""
        last = -2
        for frame in frames_iter:
            self.frames_decoded += 1
            if frame.pts is None:
                raise _NoFramePts
            index = self._pts_to_index.get(frame.pts)
            if index is None:
                continue
            last = index
            if index in members:
                found[index] = self._rgb(frame)
            if index >= stop:
                break
        return last

    def _decode_sequential(self, wanted: set[int]) -> dict[int, np.ndarray]:
        """No usable pts: count frames from the start (slow but always right)."""
        self._open()
        found: dict[int, np.ndarray] = {}
        stop = max(wanted)
        for index, frame in enumerate(self._container.decode(self._stream)):
            self.frames_decoded += 1
            if index in wanted:
                found[index] = self._rgb(frame)
            if index >= stop:
                break
        return found

    def decode_all(self) -> list[np.ndarray]:
        """Every frame from the start (the baseline the benchmark compares with)."""
        self._open()
        out = []
        for frame in self._container.decode(self._stream):
            self.frames_decoded += 1
            out.append(self._rgb(frame))
        return out

    def _rgb(self, frame: av.VideoFrame) -> np.ndarray:
        return self._reformatter.reformat(frame, format="rgb24").to_ndarray()

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # closing a broken container must not hide the real error
                pass
            self._container = None

    def __del__(self) -> None:  # a pipeline that fails between Init and Decode
        self.close()

    def __len__(self) -> int:
        return self.total_frames


# ---------------------------------------------------------------- transforms
_SUPPORTED_IO = ("disk", "local", "http", "https")


def _check_io_backend(type_name: str, io_backend: str, extra: dict) -> None:
    if io_backend not in _SUPPORTED_IO:
        raise ConfigError(f"{type_name}: io_backend={io_backend!r} is not supported "
                          f"(use one of {', '.join(_SUPPORTED_IO)})")
    if extra:
        warnings.warn(f"{type_name}: ignoring file-client arguments {sorted(extra)} "
                      f"(kinetix reads files directly)", stacklevel=3)


class VideoInit:
    """Open the video, index it, set ``total_frames``, ``avg_fps`` and ``video_reader``.

    Registered as PyAVInit, DecordInit and OpenCVInit; their backend-specific
    arguments are accepted so MMAction2 configs build unchanged.
    """

    def __init__(self, io_backend: str = "disk", num_threads: int = 1,
                 **file_client_args: Any) -> None:
        _check_io_backend(type(self).__name__, io_backend, file_client_args)
        self.num_threads = int(num_threads)

    def __call__(self, results: dict) -> dict:
        reader = VideoReader(results["filename"], num_threads=self.num_threads)
        results["video_reader"] = reader
        results["total_frames"] = reader.total_frames
        results["avg_fps"] = reader.fps
        return results


class VideoDecode:
    """Decode ``frame_inds`` into ``imgs`` (RGB uint8, in ``frame_inds`` order); close the video.

    ``mode`` ('accurate'/'efficient') and ``multi_thread`` are accepted for
    compatibility; decoding is always frame-accurate.
    """

    def __init__(self, mode: str = "accurate", multi_thread: bool = False) -> None:
        if mode not in ("accurate", "efficient"):
            raise ConfigError(f"{type(self).__name__}: mode must be 'accurate' or 'efficient', got {mode!r}")
        self.multi_thread = bool(multi_thread)

    def __call__(self, results: dict) -> dict:
        reader: VideoReader = results.pop("video_reader")
        try:
            if self.multi_thread:  # PyAVDecode(multi_thread=True): let FFmpeg use threads
                reader.use_threads(0)
            imgs = reader.get_frames(results["frame_inds"])
        finally:
            reader.close()
        results["imgs"] = imgs
        results["original_shape"] = imgs[0].shape[:2]
        results["img_shape"] = imgs[0].shape[:2]
        return results


# One subclass per user-facing name, so error messages and reprs say what the
# config said; they share all behaviour.
@TRANSFORMS.register
class PyAVInit(VideoInit):
    pass


@TRANSFORMS.register
class DecordInit(VideoInit):
    pass


@TRANSFORMS.register
class OpenCVInit(VideoInit):
    pass


@TRANSFORMS.register
class PyAVDecode(VideoDecode):
    pass


@TRANSFORMS.register
class DecordDecode(VideoDecode):
    pass


@TRANSFORMS.register
class OpenCVDecode(VideoDecode):
    pass


# OpenCV decodes JPEGs fastest here (tools/analysis_tools/bench_jpeg.py, one 340x256
# clip from disk: 0.57 ms a frame against Pillow's 0.82) and gives MMAction2's pixels: its
# RawFrameDecode calls mmcv.imfrombytes, i.e. cv2.imdecode then BGR -> RGB.
# OpenCV >= 4.11 can write RGB itself, saving the conversion pass.
_IMREAD_RGB = getattr(cv2, "IMREAD_COLOR_RGB", None)


def _read_frame(path: str) -> np.ndarray:
    """One frame file as HxWx3 uint8 RGB; raises OSError/ValueError saying what is wrong."""
    # O_NONBLOCK: a FIFO named .jpg must not block the loader; fstat then rejects it.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        with open(fd, "rb", closefd=False) as f:
            data = f.read()
    finally:
        os.close(fd)
    if not data:
        raise ValueError("empty file")
    # A JPEG cut short has no end-of-image marker (the marker cannot occur inside
    # the coded data); OpenCV 4 would return it with grey rows instead of failing.
    if data[:2] == b"\xff\xd8" and data.rfind(b"\xff\xd9") < 0:
        raise ValueError("truncated JPEG (no end-of-image marker)")
    buf = np.frombuffer(data, np.uint8)
    img = cv2.imdecode(buf, _IMREAD_RGB) if _IMREAD_RGB is not None else cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:  # OpenCV's only sign of a file it cannot decode
        raise ValueError("not an image OpenCV can decode")
    return img if _IMREAD_RGB is not None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB, img)


@TRANSFORMS.register
class RawFrameDecode:
    """Read ``frame_dir/filename_tmpl.format(index + offset)`` JPEG/PNG frames with OpenCV.

    The pixels are MMAction2's (``mmcv.imfrombytes(..., channel_order='rgb')``).
    ``decoding_backend`` ('cv2', 'pillow', 'turbojpeg') is accepted for
    compatibility: all three decode JPEGs with libjpeg-turbo's default method.
    """

    def __init__(self, io_backend: str = "disk", decoding_backend: str = "cv2",
                 **file_client_args: Any) -> None:
        _check_io_backend("RawFrameDecode", io_backend, file_client_args)
        self.decoding_backend = decoding_backend

    def __call__(self, results: dict) -> dict:
        frame_dir = results["frame_dir"]
        tmpl = results.get("filename_tmpl", "img_{:05}.jpg")
        offset = int(results.get("offset", 0))
        cache: dict[int, np.ndarray] = {}  # 'loop' sampling repeats indices: read each once
        imgs = []
        for idx in np.asarray(results["frame_inds"]).reshape(-1):
            idx = int(idx) + offset
            if idx not in cache:
                path = os.path.join(frame_dir, tmpl.format(idx))
                try:
                    cache[idx] = _read_frame(path)
                except OSError as exc:
                    raise UndecodableVideoError(
                        frame_dir, f"frame {path}: {type(exc).__name__}: {exc.strerror or exc}") from None
                except ValueError as exc:
                    raise UndecodableVideoError(frame_dir, f"frame {path}: {exc}") from None
            imgs.append(cache[idx])
        if not imgs:
            raise UndecodableVideoError(frame_dir, "no frame indices to read")
        results["imgs"] = imgs
        results["original_shape"] = imgs[0].shape[:2]
        results["img_shape"] = imgs[0].shape[:2]
        return results
