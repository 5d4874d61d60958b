"""Small videos of the kinds that trip frame-accurate decoders, with the frame number drawn in.

Each frame shows its number as a binary bar code: bit ``b`` is the column
``b``, white in the top half and black in the bottom half when the bit is set,
the other way round when it is not. Reading a bit compares the two halves of
its column, so the code survives lossy compression, colour conversion and
scaling, and a test tells which frame a decoder returned without a reference
decode to compare pixels with.

The kinds are those that real datasets hold and that decoders get wrong (see
issue 7): B-frames with long GOPs, open GOPs (H.264 and HEVC CRA), VP9 in webm
and mkv, variable frame rate, a first timestamp at 2 s, an mp4 edit list that
cuts the first frames, MPEG-TS, MPEG-4 part 2 in AVI, and a 5-frame video; and
(:func:`write_resolution_change_video`) clips of two sizes spliced into one stream.
Ground truth is a full sequential PyAV decode: frame ``i`` is the ``i``-th
frame out of the decoder (:func:`decode_numbers`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

import av
import cv2
import numpy as np

HEIGHT, WIDTH = 64, 96
BITS = 10           # numbers up to 1023
BIT_WIDTH = 8       # pixels per bit column: one 8x8 block wide, so blocks never straddle two bits
FPS = 30
EDIT_CUT = 12       # frames the edit-list kind cuts from the start
_CODE_WIDTH = BITS * BIT_WIDTH


def draw_frame_number(number: int, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """An RGB uint8 frame showing ``number`` as a bar code (see the module docstring)."""
    if not 0 <= number < 2 ** BITS:
        raise ValueError(f"frame number {number} does not fit in {BITS} bits")
    img = np.zeros((height, width, 3), np.uint8)
    half = height // 2
    for b in range(BITS):
        cols = slice(b * BIT_WIDTH, (b + 1) * BIT_WIDTH)
        bit = (number >> b) & 1
        img[:half, cols] = 255 * bit
        img[half:, cols] = 255 * (1 - bit)
    # A block that moves with the frame number beside the code: the encoder
    # sees motion to predict, as in real footage, not only still bars.
    x = _CODE_WIDTH + number % max(1, width - _CODE_WIDTH - 4)
    img[(number * 3) % (height - 4):][:4, x:x + 4] = (200, 60, 30)
    return img


def read_frame_number(img: np.ndarray) -> int:
    """The number drawn by :func:`draw_frame_number`, or -1 when a bit cannot be read."""
    grey = np.asarray(img, np.float32).mean(axis=2)
    h, w = grey.shape
    # The code may have been scaled: read at the proportional place, away from edges.
    scale = w / WIDTH
    half = h // 2
    number = 0
    for b in range(BITS):
        x0, x1 = int((b * BIT_WIDTH + 2) * scale), int(((b + 1) * BIT_WIDTH - 2) * scale)
        top = grey[2:half - 2, x0:x1].mean()
        bottom = grey[half + 2:h - 2, x0:x1].mean()
        if abs(top - bottom) < 64:  # neither clearly set nor clearly clear
            return -1
        number |= int(top > bottom) << b
    return number


# ------------------------------------------------------------------ writing
@dataclass(frozen=True)
class Kind:
    """One kind of tricky video: its file extension, frame count and how it is encoded."""

    name: str
    ext: str
    frames: int
    codec: str
    options: dict = field(default_factory=dict)
    gop: int = 30
    b_frames: int | None = None  # for encoders without an options string for it (mpeg4)
    what: str = ""


_X264 = {"preset": "veryfast", "crf": "23", "threads": "1"}
# scenecut=0 keeps the GOPs where `keyint` puts them: the bar code changes
# abruptly (127 -> 128 flips every bit) and x264 would otherwise start new ones there.
_X264_B = "bframes=3:b-adapt=0:scenecut=0"

KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("kinetics", "mp4", 90, "libx264", {**_X264, "x264-params": "bframes=3:scenecut=0"}, gop=30,
         what="H.264 High with B-frames, 1 s GOPs, as YouTube serves Kinetics"),
    Kind("h264_gop250", "mp4", 300, "libx264", {**_X264, "x264-params": _X264_B}, gop=250,
         what="H.264, 3 B-frames, GOP 250 (x264's default keyint)"),
    Kind("h264_open_gop", "mp4", 120, "libx264", {**_X264, "x264-params": _X264_B + ":open_gop=1"}, gop=30,
         what="H.264 open GOP: B-frames before a keyframe reference the GOP before it"),
    Kind("hevc_cra", "mp4", 120, "libx265",
         {"preset": "ultrafast", "x265-params": "keyint=30:min-keyint=30:scenecut=0:open-gop=1:bframes=3"
                                                ":log-level=error:pools=1:frame-threads=1"},
         gop=30, what="HEVC with open-GOP CRA keyframes"),
    Kind("vp9_webm", "webm", 90, "libvpx-vp9", {"crf": "32", "b:v": "0", "deadline": "realtime",
                                                 "cpu-used": "8", "threads": "1"},
         gop=30, what="VP9 in WebM"),
    Kind("vp9_mkv", "mkv", 90, "libvpx-vp9", {"crf": "32", "b:v": "0", "deadline": "realtime",
                                               "cpu-used": "8", "threads": "1"},
         gop=30, what="VP9 in Matroska"),
    Kind("vfr", "mp4", 90, "libx264", {**_X264, "x264-params": _X264_B}, gop=30,
         what="H.264, variable frame rate (frame durations from 10 to 70 ms)"),
    Kind("start_2s", "mp4", 60, "libx264", {**_X264, "x264-params": _X264_B}, gop=30,
         what="H.264 whose first frame is shown at 2 s"),
    Kind("edit_list", "mp4", 90, "libx264", {**_X264, "x264-params": _X264_B}, gop=30,
         what=f"mp4 whose edit list cuts the first {EDIT_CUT} frames (as a stream-copy cut does)"),
    Kind("mpegts", "ts", 90, "libx264", {**_X264, "x264-params": _X264_B}, gop=30,
         what="H.264 in MPEG-TS"),
    Kind("mpeg4_avi", "avi", 90, "mpeg4", {"qscale": "3"}, gop=30, b_frames=2,
         what="MPEG-4 part 2 with B-frames in AVI (Xvid-style)"),
    Kind("five_frames", "mp4", 5, "libx264", {**_X264, "x264-params": _X264_B}, gop=30,
         what="H.264, 5 frames"),
)}


def available_kinds() -> list[str]:
    """The kinds whose encoder this PyAV build has (libx265 and libvpx are optional in FFmpeg)."""
    return [name for name, kind in KINDS.items() if kind.codec in av.codecs_available]


def _timestamps(kind: Kind) -> tuple[Fraction, list[int]]:
    """Time base and presentation timestamps of the frames to encode."""
    if kind.name == "vfr":
        # Irregular but reproducible durations; 1/1000 s ticks, as phones write.
        rng = np.random.default_rng(7)
        durations = rng.choice([10, 20, 33, 50, 70], size=kind.frames)
        return Fraction(1, 1000), [0, *np.cumsum(durations)[:-1].tolist()]
    start = 2 * FPS if kind.name == "start_2s" else 0
    return Fraction(1, FPS), [start + i for i in range(kind.frames)]


def _encode(kind: Kind, path: str, shift: int = 0) -> None:
    """Encode the kind's frames into ``path``; ``shift`` moves every timestamp by that many frames."""
    time_base, pts = _timestamps(kind)
    with av.open(path, "w") as container:
        stream = container.add_stream(kind.codec, rate=FPS)
        stream.height, stream.width = HEIGHT, WIDTH
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        stream.codec_context.gop_size = kind.gop
        if kind.b_frames is not None:
            stream.codec_context.max_b_frames = kind.b_frames
        stream.options = dict(kind.options)
        if kind.codec == "libx264":
            stream.options["x264-params"] = f"{kind.options['x264-params']}:keyint={kind.gop}"

        def mux(packets: Any) -> None:
            for packet in packets:
                if shift:
                    packet.pts -= shift
                    packet.dts -= shift
                container.mux(packet)

        for i, t in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(draw_frame_number(i), format="rgb24")
            frame.pts, frame.time_base = t, time_base
            mux(stream.encode(frame))
        mux(stream.encode())


def write_tricky_video(kind: str, out_dir: str) -> str:
    """Write one video of ``kind`` (a key of :data:`KINDS`) into ``out_dir``; return its path."""
    spec = KINDS[kind]
    if spec.codec not in av.codecs_available:
        raise RuntimeError(f"this PyAV build has no {spec.codec} encoder for the {kind} kind")
    path = os.path.join(out_dir, f"{kind}.{spec.ext}")
    # The edit-list kind: timestamps shifted back by EDIT_CUT frames; the mp4
    # muxer keeps the negative part and writes an edit list that starts the
    # presentation at 0, as a stream copy cut between keyframes does.
    _encode(spec, path, shift=EDIT_CUT if kind == "edit_list" else 0)
    return path


def write_resolution_change_video(out_dir: str, sizes: tuple[tuple[int, int], ...] = (
        (HEIGHT, WIDTH), (2 * HEIGHT, 2 * WIDTH)), frames: int = 30) -> str:
    """An H.264 MPEG-TS of ``frames`` frames at each (height, width) of ``sizes`` in turn:
    clips spliced at the byte level, as stream-copied concatenations are, so the resolution
    changes mid-stream at a keyframe. Timestamps run on across the splice; frame numbers too."""
    if "libx264" not in av.codecs_available:
        raise RuntimeError("this PyAV build has no libx264 encoder")
    path = os.path.join(out_dir, "resolution_change.ts")
    with open(path, "wb") as out:
        for part, (height, width) in enumerate(sizes):
            piece = os.path.join(out_dir, f"resolution_change_{part}.ts")
            with av.open(piece, "w") as container:
                stream = container.add_stream("libx264", rate=FPS)
                stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
                stream.time_base = stream.codec_context.time_base = Fraction(1, FPS)
                stream.options = {**_X264, "x264-params": f"bframes=0:keyint={frames}"}
                for i in range(part * frames, (part + 1) * frames):
                    # drawn at the usual size and scaled, so the bar code scales with it
                    img = cv2.resize(draw_frame_number(i), (width, height),
                                     interpolation=cv2.INTER_NEAREST)
                    frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                    frame.pts, frame.time_base = i, Fraction(1, FPS)
                    container.mux(stream.encode(frame))
                container.mux(stream.encode())
            with open(piece, "rb") as src:
                out.write(src.read())
            os.remove(piece)
    return path


def write_tricky_videos(out_dir: str, kinds: list[str] | None = None) -> dict[str, str]:
    """Write every available kind (or ``kinds``); returns kind -> path."""
    os.makedirs(out_dir, exist_ok=True)
    return {kind: write_tricky_video(kind, out_dir) for kind in (kinds or available_kinds())}


def decode_numbers(path: str) -> list[int]:
    """Ground truth: the number drawn in each frame of a full sequential PyAV decode, in order."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        return [read_frame_number(frame.to_ndarray(format="rgb24")) for frame in container.decode(stream)]


def describe_video(path: str) -> dict[str, Any]:
    """What makes a file tricky, read from its packets: the facts each kind must show."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        packets = [(p.pts, p.is_keyframe, p.is_discard) for p in container.demux(stream) if p.size]
        fmt, codec, time_base = container.format.name, stream.codec_context.name, stream.time_base
    kept = sorted(pts for pts, _, discard in packets if not discard)
    # Open GOP: a frame that follows a keyframe in decode order but is shown before it
    # needs the GOP before; seeking to that keyframe cannot produce it.
    open_gop = any(key and any(q < pts for q, _, _ in packets[k + 1:k + 8])
                   for k, (pts, key, _) in enumerate(packets) if k > 0)
    return dict(format=fmt, codec=codec, frames=len(kept),
                discarded=sum(discard for _, _, discard in packets),
                keyframes=[kept.index(pts) for pts, key, discard in packets if key and not discard],
                b_frames=any(b[0] < a[0] for a, b in zip(packets, packets[1:])),
                open_gop=open_gop, first_pts_s=float(kept[0] * time_base),
                frame_durations=sorted({int(b - a) for a, b in zip(kept, kept[1:])}))


# ------------------------------------------------------------------ checking
def index_queries(total_frames: int, seed: int = 0) -> list[tuple[str, list[int]]]:
    """(name, frame indices) queries as training and testing make them, plus harder orders.

    TSN 1x1x8 and I3D 32x2x1 train sampling (two draws each), their test
    sampling (25 clips; 10 clips), random sets, repeats, descending order,
    the last frames and every frame.
    """
    from kinetix.data.sampling import SampleFrames  # sampling registers transforms: import at use

    n = total_frames
    saved = np.random.get_state()
    np.random.seed(seed)  # SampleFrames draws from the global stream, as in a DataLoader worker
    try:
        def sample(**kwargs: Any) -> list[int]:
            out = SampleFrames(**kwargs)(dict(total_frames=n, start_index=0))
            return [int(i) for i in out["frame_inds"]]

        queries = [(f"tsn_train_{k}", sample(clip_len=1, num_clips=8)) for k in range(2)]
        queries += [(f"i3d_train_{k}", sample(clip_len=32, frame_interval=2)) for k in range(2)]
        queries += [("tsn_test", sample(clip_len=1, num_clips=25, test_mode=True)),
                    ("i3d_test", sample(clip_len=32, frame_interval=2, num_clips=10, test_mode=True))]
    finally:
        np.random.set_state(saved)
    rng = np.random.default_rng(seed)
    queries += [(f"random_{k}", rng.choice(n, size=min(n, 12), replace=False).tolist()) for k in range(2)]
    queries += [("repeats", [n // 2, n // 2, 0, n // 2, n - 1, 0]),
                ("descending", sorted(rng.choice(n, size=min(n, 10), replace=False).tolist(), reverse=True)),
                ("tail", [n - 3, n - 2, n - 1, 0][-min(n, 4):]),
                ("all", list(range(n)))]
    return queries


@dataclass
class Exactness:
    """What one backend returned on one video, against the ground truth."""

    queries: int = 0
    frames: int = 0
    wrong: int = 0
    total_frames_right: bool = False
    error: str | None = None  # the first error a query raised (its frames count as wrong)


def check_frame_exact(open_reader: Callable[[str], Any], path: str, truth: list[int],
                      queries: list[tuple[str, list[int]]]) -> Exactness:
    """Run every query on a fresh reader (as one sample does) and count the frames that are not ``truth``'s.

    ``open_reader(path)`` returns an object with VideoReader's interface.
    """
    from kinetix.data.decoding import UndecodableVideoError

    result = Exactness()
    try:
        reader = open_reader(path)
        result.total_frames_right = reader.total_frames == len(truth)
        reader.close()
    except UndecodableVideoError as exc:
        result.error = str(exc)
    for _, indices in queries:
        result.queries += 1
        result.frames += len(indices)
        try:
            reader = open_reader(path)
            try:
                frames = reader.get_frames(indices)
            finally:
                reader.close()
        except UndecodableVideoError as exc:
            result.wrong += len(indices)
            result.error = result.error or str(exc)
            continue
        result.wrong += sum(read_frame_number(img) != truth[i] for i, img in zip(indices, frames))
    return result
