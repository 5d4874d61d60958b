"""tools/data/prepare_videos.py: paths kept, every frame in order, short side, keyframe interval,
the list filter, a corrupt file failing alone, reruns, and one-line errors for bad arguments."""

import importlib.util
import math
import os
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from kinetix.data.decoding import VideoReader
from kinetix.data.synthetic import write_video

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("prepare_videos", ROOT / "tools" / "data" / "prepare_videos.py")
prepare = importlib.util.module_from_spec(_spec)
sys.modules["prepare_videos"] = prepare  # worker processes find its functions by this name
_spec.loader.exec_module(prepare)

BITS = 7  # frame numbers up to 127


def coded_frame(i: int, width: int, height: int) -> np.ndarray:
    """Frame i shows i in binary: column b is white when bit b is set (survives scaling)."""
    img = np.full((height, width, 3), 128, np.uint8)
    col = width // 8
    for b in range(BITS):
        img[:, b * col:(b + 1) * col] = 255 if (i >> b) & 1 else 0
    return img


def read_code(img: np.ndarray) -> int:
    col = img.shape[1] // 8
    return sum(1 << b for b in range(BITS) if img[:, b * col + col // 2].mean() > 128)


# name: (frames, width, height); written with B-frames and keyint 64 (x264's scene cuts add some).
SOURCES = {"a.mp4": (40, 96, 64), "sub/b.mp4": (30, 64, 80)}


@pytest.fixture(scope="module")
def src_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("src")
    for rel, (n, w, h) in SOURCES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_video(str(root / rel), [coded_frame(i, w, h) for i in range(n)], fps=25, gop=64)
    (root / "bad.mp4").write_bytes(np.random.default_rng(0).bytes(4000))  # not a video
    (root / "notes.txt").write_text("not a video either, and not picked up\n")
    return root


def run(capsys, *args) -> tuple[int, str, str]:
    code = prepare.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def keyframe_indices(path: Path) -> list[int]:
    """Keyframes as frame indices (presentation order), from the packet index."""
    with av.open(str(path)) as container:
        packets = [(p.pts, p.is_keyframe) for p in container.demux(video=0) if p.size]
    order = sorted(pts for pts, _ in packets)
    return sorted(order.index(pts) for pts, key in packets if key)


@pytest.fixture(scope="module")
def prepared(src_dir, tmp_path_factory):
    """One run over the whole folder with two workers and the decode check on one video."""
    dst = tmp_path_factory.mktemp("dst") / "out"
    code = prepare.main([str(src_dir), str(dst), "--short-side", "32", "--keyint", "8",
                         "--num-worker", "2", "--bench", "1"])
    return dst, code


def test_every_video_at_its_path_with_every_frame_in_order(src_dir, prepared):
    dst, code = prepared
    assert code == 1  # one file failed, the others are done
    for rel, (n, w, h) in SOURCES.items():
        reader = VideoReader(str(dst / rel))
        assert reader.total_frames == VideoReader(str(src_dir / rel)).total_frames == n
        assert [read_code(f) for f in reader.get_frames(range(n))] == list(range(n))
        assert min(reader.width, reader.height) == 32
        assert reader.width % 2 == reader.height % 2 == 0
        assert abs(reader.width / reader.height - w / h) < 0.05
        with av.open(str(dst / rel)) as container:
            assert not container.streams.audio and container.streams.video[0].codec_context.name == "h264"
    assert not (dst / "bad.mp4").exists() and not (dst / "notes.txt").exists()
    assert not [p for p in dst.rglob(".*")]  # no temporary file left behind


def test_keyframe_interval_as_asked(src_dir, prepared):
    dst, _ = prepared
    for rel, (n, _, _) in SOURCES.items():
        assert max(np.diff(keyframe_indices(src_dir / rel) + [n])) > 8  # the sources' GOPs are longer
        keys = keyframe_indices(dst / rel)
        assert keys[0] == 0 and len(keys) >= math.ceil(n / 8)
        assert max(np.diff(keys + [n])) <= 8


def test_no_b_frames_packets_come_in_presentation_order(prepared):
    dst, _ = prepared
    with av.open(str(dst / "a.mp4")) as container:
        pts = [p.pts for p in container.demux(video=0) if p.size]
    assert pts == sorted(pts)


def test_corrupt_file_is_listed_with_its_reason(prepared):
    dst, _ = prepared
    lines = (dst / "failed.txt").read_text().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bad.mp4\t") and "bad.mp4" in lines[0].split("\t")[1]


def test_rerun_skips_finished_retries_failed_and_overwrite_redoes(src_dir, prepared, capsys):
    dst, _ = prepared
    before = {rel: os.stat(dst / rel).st_ino for rel in SOURCES}
    code, out, err = run(capsys, src_dir, dst, "--short-side", "32", "--keyint", "8", "--num-worker", "1",
                         "--bench", "0")
    assert code == 1 and "2 of 3 videos are already in" in out and "failed: cannot decode" in err
    assert {rel: os.stat(dst / rel).st_ino for rel in SOURCES} == before
    code, out, _ = run(capsys, src_dir, dst, "--ann-file", _list(src_dir, ["a.mp4 0"]), "--short-side", "32",
                       "--keyint", "8", "--num-worker", "1", "--bench", "0", "--overwrite")
    assert code == 0 and "1 videos encoded" in out
    assert os.stat(dst / "a.mp4").st_ino != before["a.mp4"]  # a new file renamed into place
    assert os.stat(dst / "sub/b.mp4").st_ino == before["sub/b.mp4"]


def test_decode_check_reports_fewer_frames_decoded(tmp_path, capsys):
    # A long GOP before (one keyframe in 120 frames), a short one after. The sources of
    # the other tests are too short for this: the reader skips their unwanted B-frames,
    # so a 40-frame source with B-frames decodes about as few frames as its copy.
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    write_video(str(src / "long.mp4"), [coded_frame(i, 96, 64) for i in range(120)], fps=25, gop=250)
    code, _, _ = run(capsys, src, dst, "--keyint", "4", "--num-worker", "1", "--bench", "0")
    assert code == 0
    lines = prepare.decode_check([(str(src / "long.mp4"), str(dst / "long.mp4"))], clips_per_video=4)
    tsn = next(line for line in lines if "TSN 1x1x8 train" in line)
    before, after = (float(x) for x in tsn.split(": ")[1].split(" frames")[0].split(" -> "))
    assert after < before, tsn


def _list(root: Path, lines: list[str]) -> Path:
    path = root.parent / f"list_{abs(hash(tuple(lines)))}.txt"
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_list_filter_prepares_only_listed_videos(src_dir, tmp_path, capsys):
    listed = _list(src_dir, ["sub/b.mp4 3", "", "sub/b.mp4 5"])  # multi-label lists repeat a path
    code, out, _ = run(capsys, src_dir, tmp_path / "out", "--ann-file", listed, "--short-side", "32",
                       "--num-worker", "1", "--bench", "0")
    assert code == 0 and "1 videos encoded, 0 already done, 0 failed" in out
    assert [p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.mp4")] == ["sub/b.mp4"]
    assert not (tmp_path / "out" / "failed.txt").exists()


def test_skip_missing_lists_them_and_prepares_the_rest(src_dir, tmp_path, capsys):
    listed = _list(src_dir, ["gone.mp4 1", "a.mp4 0"])
    code, out, _ = run(capsys, src_dir, tmp_path / "out", "--ann-file", listed, "--skip-missing",
                       "--short-side", "32", "--num-worker", "1", "--bench", "0")
    assert code == 0 and (tmp_path / "out" / "a.mp4").exists()
    assert (tmp_path / "out" / "missing.txt").read_text() == "gone.mp4\n"


def test_a_wrong_result_is_never_published(src_dir, tmp_path, monkeypatch):
    # A source that yields fewer frames than its index lists (a decode that stops early).
    real = prepare._frame_count
    monkeypatch.setattr(prepare, "_frame_count", lambda path: real(path) + (path.endswith("a.mp4")))
    with pytest.raises(prepare.UndecodableVideoError, match="decoded 40 of its 41 frames"):
        prepare.encode_video(str(src_dir / "a.mp4"), str(tmp_path / "a.mp4"), 32, prepare.x264_options())
    assert os.listdir(tmp_path) == []  # neither the output nor its temporary file


@pytest.mark.parametrize("case, message", [
    ("missing_src", "is not a folder"),
    ("dst_inside_src", "is inside SRC_DIR"),
    ("unreadable_list", "cannot read annotation list"),
    ("list_names_missing", ":2: gone.mp4 not found under"),
    ("odd_short_side", "--short-side must be even"),
    ("zero_workers", "--num-worker"),
    ("x264_typo", "Error parsing option 'bframe = 2'"),  # FFmpeg itself would only log it
])
def test_bad_arguments_one_line_exit_2(src_dir, tmp_path, capsys, case, message):
    args = {
        "missing_src": [tmp_path / "nope", tmp_path / "out"],
        "dst_inside_src": [src_dir, src_dir / "sub" / "out"],
        "unreadable_list": [src_dir, tmp_path / "out", "--ann-file", tmp_path / "nope.txt"],
        "list_names_missing": [src_dir, tmp_path / "out", "--ann-file", _list(src_dir, ["a.mp4 0", "gone.mp4 1"])],
        "odd_short_side": [src_dir, tmp_path / "out", "--short-side", "255"],
        "zero_workers": [src_dir, tmp_path / "out", "--num-worker", "0"],
        "x264_typo": [src_dir, tmp_path / "out", "--x264-params", "bframe=2"],
    }[case]
    try:
        code = prepare.main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own checks
        code = exc.code
    out, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert not (tmp_path / "out").exists() and not (src_dir / "sub" / "out").exists()


def test_output_size_keeps_aspect_makes_even_never_upscales():
    assert prepare.output_size(1280, 720, 256) == (456, 256)
    assert prepare.output_size(720, 1280, 256) == (256, 456)
    assert prepare.output_size(200, 150, 256) == (200, 150)  # smaller than asked: kept
    assert prepare.output_size(640, 480, 256) == (342, 256)
    assert prepare.output_size(201, 151, 256) == (200, 150)  # odd: made even, not larger
