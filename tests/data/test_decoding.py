"""Frame-accurate seeking decode, the decoder aliases, raw frames and broken files."""

import os

import av
import numpy as np
import pytest
from PIL import Image

from kinetix.data.decoding import RawFrameDecode, UndecodableVideoError, VideoReader
from kinetix.data.synthetic import write_video
from kinetix.errors import ConfigError
from kinetix.registry import TRANSFORMS, build

N_FRAMES = 70
BITS = 7  # 2**7 > N_FRAMES


def coded_frame(i, size=64):
    """Frame i shows i in binary: column b (8 px wide) is white when bit b is set."""
    img = np.zeros((size, size, 3), np.uint8)
    for b in range(BITS):
        if (i >> b) & 1:
            img[:, b * 8:(b + 1) * 8] = 255
    img[:, BITS * 8:] = 128  # a gray strip, never confused with a bit
    return img


def read_code(img):
    return sum(1 << b for b in range(BITS) if img[:, b * 8 + 2:b * 8 + 6].mean() > 128)


@pytest.fixture(scope="module")
def coded_video(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("videos") / "coded.mp4")
    write_video(path, [coded_frame(i) for i in range(N_FRAMES)], fps=8, gop=8)  # x264, B-frames, GOP 8
    return path


def test_index_counts_frames_and_keyframes(coded_video):
    reader = VideoReader(coded_video)
    assert reader.total_frames == N_FRAMES
    assert reader.key_indices[:3] == [0, 8, 16]
    assert reader.fps == 8
    reader.close()


def test_sparse_decode_is_frame_accurate_and_cheap(coded_video):
    wanted = [3, 3, 0, 17, 40, 41, 69, 12, 12, 56, 8, 7]
    reader = VideoReader(coded_video)
    imgs = reader.get_frames(wanted)
    assert [read_code(img) for img in imgs] == wanted
    assert imgs[0].dtype == np.uint8 and imgs[0].shape == (64, 64, 3)
    assert reader.frames_decoded < N_FRAMES // 2  # seeking skipped most of the video
    reader.close()


def test_every_frame_once_and_tail(coded_video):
    reader = VideoReader(coded_video)
    assert [read_code(img) for img in reader.get_frames(range(N_FRAMES))] == list(range(N_FRAMES))
    assert reader.frames_decoded == N_FRAMES  # consecutive segments: no re-decoding
    reader.close()
    reader = VideoReader(coded_video)
    assert [read_code(img) for img in reader.get_frames([68, 69, 1])] == [68, 69, 1]
    with pytest.raises(UndecodableVideoError, match="out of range"):
        reader.get_frames([N_FRAMES])
    reader.close()


def test_mpeg4_avi_without_b_frames(tmp_path):
    path = str(tmp_path / "coded.avi")
    with av.open(path, "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = 5
        stream.options = {"qscale": "2"}
        for i in range(30):
            for packet in stream.encode(av.VideoFrame.from_ndarray(coded_frame(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    reader = VideoReader(path)
    assert reader.total_frames == 30
    wanted = [29, 0, 14, 14, 21]
    assert [read_code(img) for img in reader.get_frames(wanted)] == wanted
    reader.close()


@pytest.mark.parametrize("init,decode", [("PyAVInit", "PyAVDecode"), ("DecordInit", "DecordDecode"),
                                         ("OpenCVInit", "OpenCVDecode")])
def test_pipeline_aliases(coded_video, init, decode):
    init_kwargs = dict(io_backend="disk", num_threads=2) if init == "DecordInit" else dict(io_backend="disk")
    decode_kwargs = dict(mode="efficient") if decode == "DecordDecode" else (
        dict(multi_thread=True) if decode == "PyAVDecode" else {})
    steps = [build(dict(type=init, **init_kwargs), TRANSFORMS, "pipeline.0"),
             build(dict(type="SampleFrames", clip_len=4, frame_interval=3, num_clips=2, test_mode=True),
                   TRANSFORMS, "pipeline.1"),
             build(dict(type=decode, **decode_kwargs), TRANSFORMS, "pipeline.2")]
    results = dict(filename=coded_video, start_index=0, modality="RGB")
    for step in steps:
        results = step(results)
    assert results["total_frames"] == N_FRAMES and "video_reader" not in results
    assert [read_code(img) for img in results["imgs"]] == results["frame_inds"].tolist()
    assert results["original_shape"] == results["img_shape"] == (64, 64)


def test_bad_io_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="io_backend"):
        build(dict(type="DecordInit", io_backend="petrel"), TRANSFORMS, "pipeline.0")


def test_garbage_and_truncated_files(tmp_path, coded_video):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(os.urandom(5000))
    with pytest.raises(UndecodableVideoError) as info:
        VideoReader(str(garbage))
    assert "garbage.mp4" in str(info.value) and "\n" not in str(info.value)
    data = open(coded_video, "rb").read()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(UndecodableVideoError, match="truncated.mp4"):
        VideoReader(str(truncated)).get_frames([0, 60])
    # Header first (faststart), data cut off: opens fine, but must not pass as a 1-frame video.
    faststart = str(tmp_path / "faststart.mp4")
    with av.open(faststart, "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4", rate=8)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for i in range(N_FRAMES):
            for packet in stream.encode(av.VideoFrame.from_ndarray(coded_frame(i), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = open(faststart, "rb").read()
    open(faststart, "wb").write(data[: len(data) // 2])
    with pytest.raises(UndecodableVideoError, match="truncated"):
        VideoReader(faststart)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(UndecodableVideoError, match="empty.mp4"):
        VideoReader(str(empty))


def test_raw_frame_decode(tmp_path):
    frame_dir = tmp_path / "clip"
    frame_dir.mkdir()
    for i in range(1, 11):
        Image.fromarray(coded_frame(i)).save(frame_dir / f"img_{i:05d}.jpg", quality=95)
    decode = RawFrameDecode(io_backend="disk", decoding_backend="pillow")
    out = decode(dict(frame_dir=str(frame_dir), frame_inds=np.array([1, 5, 5, 10]), filename_tmpl="img_{:05}.jpg"))
    assert [read_code(img) for img in out["imgs"]] == [1, 5, 5, 10]
    assert out["img_shape"] == (64, 64)
    out = decode(dict(frame_dir=str(frame_dir), frame_inds=np.array([1, 2]), offset=3))
    assert [read_code(img) for img in out["imgs"]] == [4, 5]
    with pytest.raises(UndecodableVideoError, match="img_00011.jpg"):
        decode(dict(frame_dir=str(frame_dir), frame_inds=np.array([11])))
    (frame_dir / "img_00003.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UndecodableVideoError, match="img_00003.jpg"):
        decode(dict(frame_dir=str(frame_dir), frame_inds=np.array([3])))


def test_a_fifo_named_mp4_is_skipped_not_waited_on(tmp_path):
    # FFmpeg would block for ever reading a FIFO that nobody writes: run it in a child with a limit.
    import subprocess
    import sys
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    code = ("from kinetix.data.decoding import VideoReader, UndecodableVideoError\n"
            "try:\n    VideoReader(%r)\nexcept UndecodableVideoError as exc:\n    print(exc.reason)\n" % str(fifo))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "not a regular file", proc.stderr[-2000:]


def test_the_reused_colour_converter_gives_pyavs_own_pixels(coded_video):
    reader = VideoReader(coded_video)
    ours = reader.decode_all()
    reader.close()
    with av.open(coded_video) as container:
        reference = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(ours) == len(reference) == N_FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(ours, reference))


def _decode_in_child(path, queue):
    queue.put([read_code(img) for img in VideoReader(path).get_frames([5, 6])])


def test_a_forked_worker_converts_frames_after_its_parent_did(coded_video):
    # DataLoader workers are forked from a process that has often decoded already.
    # A colour converter inherited from the parent waited for ever on the parent's
    # scaler threads, which do not exist in the child.
    import multiprocessing

    assert [read_code(img) for img in VideoReader(coded_video).get_frames([1, 2])] == [1, 2]
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_decode_in_child, args=(coded_video, queue))
    child.start()
    child.join(30)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung, "the forked child hung converting a frame"
    assert queue.get(timeout=5) == [5, 6]


def test_a_mid_stream_resolution_change_is_resized_with_opencv(tmp_path):
    # Two clips spliced into one stream: 30 frames at 64x96, then 30 at 128x192.
    from kinetix.data.tricky_videos import read_frame_number, write_resolution_change_video
    cv2 = pytest.importorskip("cv2")
    path = write_resolution_change_video(str(tmp_path))
    with av.open(path) as container:
        native = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert {f.shape for f in native} == {(64, 96, 3), (128, 192, 3)}
    frames = VideoReader(path).get_frames([3, 45, 31, 4])
    assert [f.shape for f in frames] == [(64, 96, 3)] * 4
    assert [read_frame_number(f) for f in frames] == [3, 45, 31, 4]
    assert np.array_equal(frames[0], native[3])  # first-size frames are untouched
    # The larger frames are brought down exactly as cv2.resize (bilinear, no antialiasing)
    # does, the Resize transform's resize; PIL's filter would blur them differently.
    for got, i in ((frames[1], 45), (frames[2], 31)):
        assert np.array_equal(got, cv2.resize(native[i], (96, 64), interpolation=cv2.INTER_LINEAR))
    pil = np.asarray(Image.fromarray(native[45]).resize((96, 64), Image.Resampling.BILINEAR))
    assert not np.array_equal(frames[1], pil)
