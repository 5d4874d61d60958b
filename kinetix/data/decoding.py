"""Frame-accurate video decoding with PyAV, and JPEG frame-folder reading.

One decoder serves the three families of type names users write
(``DecordInit``/``DecordDecode``, ``PyAVInit``/``PyAVDecode``,
``OpenCVInit``/``OpenCVDecode``): they all mean "open this video, then give me
these frame indices", and one well-tested implementation beats three.

How :class:`VideoReader` stays exact *and* cheap:

* It indexes every packet of the video stream without decoding
  (``packet_index.py``): frame ``i`` is the frame with the ``i``-th smallest
  pts, so ``total_frames`` is exact, unlike container metadata. Indexes are
  cached per process, so the next epoch does not demux the file again.
* The wanted indices are grouped by the keyframe segment they fall in. For
  each group the reader puts the demuxer on that keyframe's packet and decodes
  forward only until the group's frames have come out, matching frames by pts.
  A seek only has to land at or before the keyframe: the packets before it are
  demuxed, not decoded (MPEG-TS and AVI seeks land early or late, and a late
  landing is retried from the keyframe before).
* Packets of frames nobody asked for are decoded with ``skip_frame='NONREF'``:
  a non-reference frame is needed by no other frame, so skipping it changes no
  pixel, and 40% of a typical H.264 stream is such frames.

Anything that goes wrong with a video file (cannot open, no video stream,
decode error, a wanted frame that never comes out) raises
:class:`UndecodableVideoError`, which the datasets turn into a skipped sample.
"""

from __future__ import annotations

import os
import stat
import threading
import warnings
from typing import Any

import av
from av.video.reformatter import VideoReformatter
import cv2
import numpy as np

from kinetix.data.packet_index import INDEX_CACHE, TruncatedVideo, build_index
from kinetix.errors import ConfigError, ConfigWarning, DataError
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


_THREAD = threading.local()


def _reformatter() -> VideoReformatter:
    """This thread's colour converter. ``frame.to_ndarray(format='rgb24')`` builds
    a new one per frame, 4x the cost for the same pixels; one per video still
    pays the set-up for each clip of 8 frames. A converter keeps its set-up for
    as long as the frame size and format stay the same, as they do across a
    dataset of resized videos, so one per thread serves them all.

    One per *process* too: a DataLoader worker forked from a process that had
    converted frames must not inherit its converter (its scaler's state), so
    the owner's pid is checked.
    """
    pid = os.getpid()
    if getattr(_THREAD, "pid", None) != pid:
        _THREAD.reformatter, _THREAD.pid = VideoReformatter(), pid
    return _THREAD.reformatter


def regular_file_stat(path: str) -> os.stat_result:
    """The file's stat, for a regular file only: FFmpeg (under every backend) would wait
    for ever on a FIFO (or a device) named .mp4."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise UndecodableVideoError(path, _describe(exc)) from None
    if not stat.S_ISREG(st.st_mode):
        raise UndecodableVideoError(path, "not a regular file")
    return st


class _NoFramePts(Exception):
    """Decoded frames carry no pts: fall back to counting frames from the start."""


# Forward jumps shorter than this many packets demux their way to the next
# keyframe instead of seeking: demuxing a packet costs microseconds, and a
# seek in a file without an index (MPEG-TS) reads its way there anyway.
_DEMUX_FORWARD_LIMIT = 120
# A seek that lands after the wanted keyframe is retried this many times with
# the keyframe before, then the reader demuxes from the start of the file.
_SEEK_RETRIES = 2


class VideoReader:
    """An open video with a packet index; see the module docstring.

    ``skip_nonref``: let the decoder drop non-reference frames nobody asked
    for (no other frame needs them, so skipping them changes no pixel).
    """

    def __init__(self, path: str, num_threads: int = 1, skip_nonref: bool = True) -> None:
        self.path = str(path)
        self.num_threads = int(num_threads)
        self.skip_nonref = bool(skip_nonref)
        self.frames_decoded = 0  # frames out of the decoder, for tests and benchmarks
        self._container: Any = None
        self._packets: Any = None   # the live demux iterator ...
        self._lookahead: Any = None  # ... and a packet read from it but not yet used
        self._ordinal: int | None = None  # decode-order position of the next packet, when known
        self._fed_from: int | None = None  # decoder holds a clean state from this ordinal ...
        self._fed_to = -1                  # ... up to this one
        try:
            st = regular_file_stat(self.path)
            key = INDEX_CACHE.key(self.path, st)
            index = INDEX_CACHE.get(key)
            if index is None:
                self._open()
                try:
                    index = build_index(self._container, self._stream)
                except TruncatedVideo as exc:
                    raise UndecodableVideoError(self.path, str(exc)) from None
                INDEX_CACHE.put(key, index)
                self._ordinal = None  # the demuxer is at the end: the first decode seeks
        except UndecodableVideoError:
            self.close()
            raise
        except (av.error.FFmpegError, OSError, ValueError, RuntimeError) as exc:
            self.close()
            raise UndecodableVideoError(self.path, _describe(exc)) from None
        except BaseException:  # the sample's decode timeout, Ctrl-C: nothing left open
            self.close()
            raise
        self.index = index
        self.total_frames = index.total_frames
        self.fps = index.fps
        self.height, self.width = index.height, index.width

    @property
    def key_indices(self) -> list[int]:
        return [int(i) for i in self.index.key_indices]

    def _open(self) -> None:
        """(Re)open the container: the surest way back to the first packet."""
        self.close()
        self._container = av.open(self.path)
        if not self._container.streams.video:
            raise UndecodableVideoError(self.path, "no video stream")
        self._stream = self._container.streams.video[0]
        self._codec = self._stream.codec_context
        # One thread by default (FFmpeg's default is one per core): DataLoader
        # workers already decode in parallel, and oversubscribed cores only thrash.
        self._codec.thread_count = self.num_threads
        if self.num_threads != 1:
            self._codec.thread_type = "AUTO"
        self._packets = self._container.demux(self._stream)
        self._lookahead, self._ordinal = None, 0
        self._fed_from, self._fed_to = None, -1

    def use_threads(self, num_threads: int) -> None:
        """Decode with ``num_threads`` threads (0 = FFmpeg picks); call before decoding."""
        self.num_threads = int(num_threads)
        if self._container is not None:
            self._codec.thread_count = self.num_threads
            self._codec.thread_type = "AUTO"

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
            if self._container is None:
                self._open()
            found = None
            if seek and self.index.has_pts:
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
            # frame to the first one's size so the clip can still be stacked, with
            # OpenCV's bilinear resize as the Resize transform (and MMAction2) use.
            frames = [f if f.shape == shape else
                      cv2.resize(f, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
                      for f in frames]
        return frames

    def _decode_seeking(self, unique: list[int]) -> dict[int, np.ndarray]:
        """Decode each wanted frame's segment from its keyframe, in decode order.

        A segment is the run of frames (in presentation order) from one keyframe
        to the next; decoding from its keyframe yields all of them, including an
        open GOP's leading frames, which come out after the next keyframe.
        """
        index = self.index
        groups: dict[int, list[int]] = {}
        for i in unique:
            groups.setdefault(index.segment_start(i), []).append(i)
        wanted_pts = {int(index.frame_pts[i]) for i in unique}
        found: dict[int, np.ndarray] = {}
        for seg, members in sorted(groups.items()):
            if all(m in found for m in members):
                continue  # came out while decoding the segment before
            start = 0 if seg < 0 else int(index.frame_ordinal[index.key_indices[seg]])
            # The decoder state is good to go on with when it has been fed,
            # without a gap, from a keyframe up to just before this segment.
            if not (self._fed_from is not None and self._fed_from <= start <= self._fed_to + 1):
                self._go_to(seg, start)
            self._decode_until(members, wanted_pts, found)
            if any(m not in found for m in members):
                # Never came out (a seek that landed wrong, a decoder that drops
                # what it should not): everything still missing, from the start,
                # without skipping anything.
                self._open()
                rest = [i for i in unique if i not in found]
                self._decode_until(rest, None, found)
                break
        return found

    def _go_to(self, seg: int, start: int) -> None:
        """Leave the next packet at ordinal ``start`` (a keyframe) and the decoder flushed."""
        self._codec.flush_buffers()
        self._fed_from, self._fed_to = None, -1
        ahead = start - self._ordinal if self._ordinal is not None else -1
        if not 0 <= ahead <= _DEMUX_FORWARD_LIMIT:
            self._seek_near(seg, start)
        while self._ordinal < start:  # demux, not decode, up to the keyframe
            if self._next_packet() is None:
                raise UndecodableVideoError(self.path, "the file ends before a keyframe its index lists")

    def _seek_near(self, seg: int, start: int) -> None:
        """Seek to ordinal ``start`` or before it, and learn where the seek landed."""
        for attempt in range(_SEEK_RETRIES + 1):
            target = seg - attempt
            if target < 0:
                break
            self._container.seek(int(self.index.key_seek_ts[target]), stream=self._stream, backward=True)
            self._codec.flush_buffers()
            self._packets = self._container.demux(self._stream)
            self._lookahead, self._ordinal = None, None
            # Demux until a packet the index knows; it tells where we are.
            for packet in self._packets:
                i = self.index.index_of_pts(packet.pts)
                if i is not None:
                    self._lookahead, self._ordinal = packet, int(self.index.frame_ordinal[i])
                    break
            if self._ordinal is not None and self._ordinal <= start:
                return
        self._open()  # every seek landed late (or the segment starts the file)

    def _next_packet(self) -> Any:
        """The next packet in decode order (None at the end), keeping the ordinal count."""
        if self._lookahead is not None:
            packet, self._lookahead = self._lookahead, None
        else:
            packet = next(self._packets, None)
        if packet is not None and self._ordinal is not None:
            self._ordinal += 1
        return packet

    def _decode_until(self, members: list[int], wanted_pts: set[int] | None,
                      found: dict[int, np.ndarray]) -> None:
        """Feed packets until every frame of ``members`` came out, or one after the last did.

        Frames whose pts is in ``wanted_pts`` are kept whatever group they are
        for; unwanted non-reference frames are not decoded at all when
        ``wanted_pts`` is given and ``skip_nonref`` is on.
        """
        index, codec = self.index, self._codec
        stop, todo = members[-1], {m for m in members if m not in found}
        skipping = self.skip_nonref and wanted_pts is not None
        if self._fed_from is None:
            self._fed_from = self._ordinal
        while todo:
            packet = self._next_packet()
            if packet is None:  # end of the stream: drain what the decoder holds
                frames = codec.decode(None)
            else:
                self._fed_to = self._ordinal - 1
                if packet.size == 0:
                    continue  # an empty packet would tell the decoder the stream ended
                if skipping:
                    codec.skip_frame = "DEFAULT" if packet.pts in wanted_pts else "NONREF"
                frames = codec.decode(packet)
            for frame in frames:
                self.frames_decoded += 1
                if frame.pts is None:
                    raise _NoFramePts
                i = index.index_of_pts(frame.pts)
                if i is None:
                    continue
                if i in todo or (wanted_pts is not None and frame.pts in wanted_pts and i not in found):
                    found[i] = self._rgb(frame)
                    todo.discard(i)
                if i > stop:
                    todo.clear()  # decoders output in presentation order: the rest never comes
            if packet is None:
                self._fed_from = None  # drained: the decoder must be flushed before reuse
                break
        codec.skip_frame = "DEFAULT"

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
        self._ordinal = None
        return found

    def decode_all(self) -> list[np.ndarray]:
        """Every frame from the start (the baseline the benchmark compares with)."""
        self._open()
        out = []
        for frame in self._container.decode(self._stream):
            self.frames_decoded += 1
            out.append(self._rgb(frame))
        self._ordinal = None
        return out

    def _rgb(self, frame: av.VideoFrame) -> np.ndarray:
        # One scaler thread: FFmpeg's default starts a pool of one per core for each
        # converter, which DataLoader workers would oversubscribe (and a forked
        # child would wait on for ever). Same pixels, same speed here.
        return _reformatter().reformat(frame, format="rgb24", threads=1).to_ndarray()

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # closing a broken container must not hide the real error
                pass
            self._container = None
            self._packets = None

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
                      f"(kinetix reads files directly)", ConfigWarning, stacklevel=3)


class VideoInit:
    """Open the video, index it, set ``total_frames``, ``avg_fps`` and ``video_reader``.

    Registered as PyAVInit, DecordInit and OpenCVInit; their backend-specific
    arguments are accepted so MMAction2 configs build unchanged. The type name
    does not pick the decoder (MMAction2 configs all say DecordInit): ``backend``
    does, 'pyav' (:class:`VideoReader`, frame-exact) unless a config asks for
    'torchcodec' or 'decord' (see :mod:`kinetix.data.video_backends`), here or
    with the top-level config key ``video_backend``.
    """

    def __init__(self, io_backend: str = "disk", num_threads: int = 1, backend: str = "pyav",
                 **file_client_args: Any) -> None:
        # video_backends builds on VideoReader and UndecodableVideoError above,
        # so it is imported here, at use, not at the top of this module (a cycle).
        from kinetix.data import video_backends

        name = type(self).__name__
        _check_io_backend(name, io_backend, file_client_args)
        self.num_threads = int(num_threads)
        self.backend = video_backends.resolve_backend(video_backends.check_backend(backend, f"{name}.backend"))
        self._open_video = video_backends.open_video

    def __call__(self, results: dict) -> dict:
        reader = self._open_video(results["filename"], backend=self.backend, num_threads=self.num_threads)
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
        reader = results.pop("video_reader")  # a VideoReader, or another backend's reader
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


def _read_frame(path: str, grey: bool = False) -> np.ndarray:
    """One frame file as HxWx3 uint8 RGB (HxW with ``grey``); raises OSError/ValueError saying what is wrong."""
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
    if grey:  # decoded straight to grey (a JPEG's luma plane), as mmcv's flag='grayscale'
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise ValueError("not an image OpenCV can decode")
        return img
    img = cv2.imdecode(buf, _IMREAD_RGB) if _IMREAD_RGB is not None else cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:  # OpenCV's only sign of a file it cannot decode
        raise ValueError("not an image OpenCV can decode")
    return img if _IMREAD_RGB is not None else cv2.cvtColor(img, cv2.COLOR_BGR2RGB, img)


@TRANSFORMS.register
class RawFrameDecode:
    """Read ``frame_dir/filename_tmpl.format(index + offset)`` JPEG/PNG frames with OpenCV.

    The pixels are MMAction2's (``mmcv.imfrombytes(..., channel_order='rgb')``).
    With ``modality='Flow'`` each index reads two grey frames,
    ``filename_tmpl.format('x', i)`` and ``.format('y', i)``, stacked HxWx2.
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
        flow = results.get("modality") == "Flow"
        for idx in np.asarray(results["frame_inds"]).reshape(-1):
            idx = int(idx) + offset
            if idx not in cache:
                path = os.path.join(frame_dir, tmpl.format("x", idx) if flow else tmpl.format(idx))
                try:
                    if flow:
                        y_path = os.path.join(frame_dir, tmpl.format("y", idx))
                        cache[idx] = np.stack([_read_frame(path, grey=True), _read_frame(y_path, grey=True)], -1)
                    else:
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
