"""Frame-exactness regression test: every installed backend, every tricky kind of video.

Ground truth is a full sequential PyAV decode; each frame carries its number
as a bar code (kinetix/data/tricky_videos.py), so a wrong frame is seen as such.
PyAV must be exact everywhere. The other backends' measured failures are
strict expected failures: a backend release that fixes one turns it into a
test failure, to be moved out of KNOWN_WRONG.
"""

import functools
import warnings

import numpy as np
import pytest

from kinetix.data.tricky_videos import (EDIT_CUT, KINDS, available_kinds, check_frame_exact,
                                        decode_numbers, describe_video, draw_frame_number,
                                        index_queries, read_frame_number, write_tricky_videos)
from kinetix.data.video_backends import BACKENDS, open_video, unusable_reason

# Measured with torchcodec 0.13.0 (FFmpeg 5.1) and decord 0.6.0
# (tools/analysis_tools/check_frame_exact.py).
KNOWN_WRONG = {
    ("torchcodec", "mpegts"): "seeks land one GOP late: frame i+30 comes back, then 'no more frames'",
    ("torchcodec", "mpeg4_avi"): "returns frame i-1, then 'no more frames' at the end",
    ("decord", "h264_open_gop"): "leading B-frames of an open GOP decoded without their reference",
    ("decord", "hevc_cra"): "leading pictures of a CRA keyframe decoded without their reference",
    ("decord", "edit_list"): f"ignores the edit list: {EDIT_CUT} frames early, total_frames too large",
    ("decord", "mpegts"): "wrong frames after a seek ('frames corrupted and recovered from nearest frames')",
    ("decord", "mpeg4_avi"): "wrong frames after a seek into an open GOP",
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """kind -> (path, ground truth numbers), for every kind this PyAV can encode."""
    paths = write_tricky_videos(str(tmp_path_factory.mktemp("tricky")))
    return {kind: (path, decode_numbers(path)) for kind, path in paths.items()}


def test_bar_code_survives_scaling_and_rejects_a_blank_frame():
    img = draw_frame_number(613)
    assert read_frame_number(img) == 613
    doubled = np.repeat(np.repeat(img, 2, axis=0), 2, axis=1)
    assert read_frame_number(doubled) == 613
    assert read_frame_number(np.full_like(img, 128)) == -1


def test_each_kind_is_what_it_claims(videos):
    """The ground truth decodes every drawn number in order, and each file has its tricky trait."""
    assert set(videos) == set(available_kinds())
    facts = {kind: describe_video(path) for kind, (path, _) in videos.items()}
    for kind, (_, truth) in videos.items():
        first = EDIT_CUT if kind == "edit_list" else 0
        assert truth == list(range(first, KINDS[kind].frames)), kind
        assert facts[kind]["frames"] == len(truth), kind
    assert facts["h264_gop250"]["keyframes"] == [0, 250] and facts["h264_gop250"]["b_frames"]
    assert not facts["h264_gop250"]["open_gop"] and not facts["kinetics"]["open_gop"]
    if "hevc_cra" in facts:
        assert facts["hevc_cra"]["codec"] == "hevc" and facts["hevc_cra"]["open_gop"]
    assert facts["h264_open_gop"]["open_gop"]
    for kind, fmt in (("vp9_webm", "matroska,webm"), ("vp9_mkv", "matroska,webm"), ("mpegts", "mpegts"),
                      ("mpeg4_avi", "avi")):
        if kind in facts:
            assert facts[kind]["format"] == fmt, kind
    assert len(facts["vfr"]["frame_durations"]) >= 4
    assert facts["start_2s"]["first_pts_s"] == 2.0
    # The demuxer marks the packets the edit list cuts as discarded (decoding.py relies on it),
    # and the first frame shown is not a keyframe: decoding must start at a discarded one.
    assert facts["edit_list"]["discarded"] == EDIT_CUT
    assert facts["edit_list"]["keyframes"][0] > 0
    assert facts["mpeg4_avi"]["codec"] == "mpeg4" and facts["mpeg4_avi"]["b_frames"]
    assert facts["five_frames"]["frames"] == 5


def test_queries_cover_training_testing_and_odd_orders():
    queries = dict(index_queries(90))
    assert len(queries["tsn_test"]) == 25 and len(queries["i3d_test"]) == 320
    assert queries["all"] == list(range(90))
    assert queries["descending"] == sorted(queries["descending"], reverse=True)
    assert len(set(queries["repeats"])) < len(queries["repeats"])
    # Short videos loop: I3D's 64-frame span over 5 frames repeats indices, all in range.
    short = dict(index_queries(5))
    assert max(max(q) for q in short.values()) == 4 and len(short["i3d_train_0"]) == 32


def _cases():
    for backend in BACKENDS:
        for kind in KINDS:
            marks = []
            if (backend, kind) in KNOWN_WRONG:
                marks.append(pytest.mark.xfail(reason=KNOWN_WRONG[backend, kind], strict=True,
                                               raises=AssertionError))
            yield pytest.param(backend, kind, marks=marks, id=f"{backend}-{kind}")


@pytest.mark.parametrize("backend,kind", _cases())
def test_frame_exact(videos, backend, kind):
    reason = unusable_reason(backend)
    if reason is not None:
        pytest.skip(f"{backend} is not installed: {reason}")
    if kind not in videos:
        pytest.skip(f"this PyAV has no {KINDS[kind].codec} encoder")
    path, truth = videos[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # decord's "wrong frames" warning
        result = check_frame_exact(functools.partial(open_video, backend=backend), path, truth,
                                   index_queries(len(truth)))
    assert result.queries == 12 and result.frames > len(truth)
    assert (result.wrong, result.total_frames_right, result.error) == (0, True, None)

