"""The fast path of VideoReader: skipped non-reference frames, seeks that land
on the right keyframe in every container, and the packet-index cache."""

from fractions import Fraction

import av
import numpy as np
import pytest

from kinetix.data import decoding
from kinetix.data.decoding import VideoReader
from kinetix.data.packet_index import IndexCache, PacketIndex

N, GOP = 96, 12


def coded_frame(i: int) -> np.ndarray:
    """Frame i shows i in binary (8 px columns), over noise so that P/B frames carry data."""
    rng = np.random.default_rng(i)
    img = rng.integers(0, 60, (48, 80, 3), dtype=np.uint8)
    for b in range(7):
        if (i >> b) & 1:
            img[:, b * 8:(b + 1) * 8] = 255
    return img


def read_code(img: np.ndarray) -> int:
    return sum(1 << b for b in range(7) if img[:, b * 8 + 2:b * 8 + 6].mean() > 150)


def encode(path, codec="libx264", fmt=None, options=None, vfr=False):
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 80, 48, "yuv420p"
        stream.codec_context.gop_size = GOP
        if vfr:  # irregular frame durations, in milliseconds
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = options or {}
        pts = 0
        for i in range(N):
            frame = av.VideoFrame.from_ndarray(coded_frame(i), format="rgb24")
            if vfr:
                frame.pts, frame.time_base = pts, Fraction(1, 1000)
                pts += 20 + (i % 7) * 9
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


X264 = {"threads": "1", "bf": "3", "x264-params": "scenecut=0"}
KINDS = {
    "mp4": dict(options=X264),
    "vfr.mp4": dict(options=X264, vfr=True),
    "ts": dict(fmt="mpegts", options=X264),
    "mkv": dict(options=X264),
    "avi": dict(codec="mpeg4", options={"qscale": "3", "bf": "2"}),
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    return {kind: encode(root / f"v.{kind}", **spec) for kind, spec in KINDS.items()}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_late_frame_decodes_from_its_own_keyframe(videos, kind):
    # Before, MPEG-TS and AVI seeks landed one GOP late and the reader decoded
    # from the start (all 96 frames); a wrong landing shows up as a count near N.
    reader = VideoReader(videos[kind])
    assert reader.total_frames == N
    imgs = reader.get_frames([N - 3, 40])
    assert [read_code(img) for img in imgs] == [N - 3, 40]
    # Two segments of at most GOP frames each, plus B-frame reordering slack.
    assert reader.frames_decoded <= 2 * GOP + 4, reader.frames_decoded
    reader.close()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_skipping_non_reference_frames_changes_no_pixel(videos, kind):
    reference = VideoReader(videos[kind]).decode_all()
    wanted = [5, 1, 30, 31, 77, 90, 90, 60]
    fast, full = VideoReader(videos[kind]), VideoReader(videos[kind], skip_nonref=False)
    for a, b, i in zip(fast.get_frames(wanted), full.get_frames(wanted), wanted):
        assert np.array_equal(a, reference[i]) and np.array_equal(b, reference[i])
    # Every kind here has B-frames, and a B-frame here is no other frame's reference.
    assert fast.frames_decoded < full.frames_decoded


def test_every_frame_in_order_and_reverse(videos):
    for kind, path in videos.items():
        reader = VideoReader(path)
        assert [read_code(img) for img in reader.get_frames(range(N))] == list(range(N)), kind
        assert [read_code(img) for img in reader.get_frames(range(N - 1, -1, -2))] == list(range(N - 1, -1, -2))


def test_the_index_is_built_once_per_file_version(tmp_path, monkeypatch):
    path = encode(tmp_path / "a.mp4", options=X264)
    calls = []
    real = decoding.build_index
    monkeypatch.setattr(decoding, "build_index", lambda *a: calls.append(1) or real(*a))
    assert VideoReader(path).total_frames == N
    assert [read_code(img) for img in VideoReader(path).get_frames([50])] == [50]  # from the cache
    assert len(calls) == 1
    # The same name rewritten with other content: indexed again, never a stale index.
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 80, 48, "yuv420p"
        for i in range(10):
            for packet in stream.encode(av.VideoFrame.from_ndarray(coded_frame(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert VideoReader(path).total_frames == 10
    assert len(calls) == 2


def _fake_index(frames: int) -> PacketIndex:
    pts = np.arange(frames, dtype=np.int64)
    return PacketIndex(frame_pts=pts, frame_ordinal=pts, key_indices=pts[:1], key_seek_ts=pts[:1],
                       has_pts=True, fps=25.0, width=8, height=8)


def test_the_cache_is_bounded_by_frames_and_keeps_the_recent_ones():
    cache = IndexCache(max_frames=250)
    for name in "abc":
        cache.put((name,), _fake_index(100))
    assert cache.get(("a",)) is None  # evicted: 300 frames > 250
    assert cache.get(("b",)) is not None and cache.get(("c",)) is not None
    cache.get(("b",))  # b is now the most recent; adding d evicts c
    cache.put(("d",), _fake_index(100))
    assert cache.get(("c",)) is None and cache.get(("b",)) is not None
