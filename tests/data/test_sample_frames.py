"""SampleFrames index rules, re-derived here from the interface spec's formulas."""

import numpy as np
import pytest

from kinetix.data.sampling import DenseSampleFrames, SampleFrames, UniformSample
from kinetix.errors import ConfigError


def spec_offsets(n, clip_len, fi, k, test_mode):
    """The spec, written out independently of kinetix.data.sampling."""
    if not test_mode:
        span = clip_len * fi
        avg = (n - span + 1) // k
        if avg > 0:
            return np.arange(k) * avg + np.random.randint(avg, size=k)
        if n > max(k, span):
            return np.sort(np.random.randint(n - span + 1, size=k))
        if avg == 0:
            return np.round(np.arange(k) * (n - span + 1) / k).astype(int)
        return np.zeros(k, dtype=int)
    if clip_len == 1:
        return (np.arange(k) * n / k + n / (2 * k)).astype(int)
    span = (clip_len - 1) * fi + 1
    if k > 1:
        return np.round(np.arange(k) * max(n - span, 0) / (k - 1)).astype(int)
    return np.array([max(n - span, 0) // 2])


def spec_indices(n, clip_len, fi, k, test_mode, opt="loop", start_index=0):
    offsets = spec_offsets(n, clip_len, fi, k, test_mode)
    inds = offsets[:, None] + np.arange(clip_len)[None] * fi
    if opt == "loop":
        inds = np.mod(inds, n)
    else:  # each clip repeats its own last index inside the video
        inds = np.array([[i if i < n else max([j for j in clip if j < n], default=0) for i in clip]
                         for clip in inds])
    return inds.reshape(-1) + start_index


def run(n, start_index=0, **kwargs):
    return SampleFrames(**kwargs)(dict(total_frames=n, start_index=start_index))


CASES = [
    # (n, clip_len, frame_interval, num_clips, branch)
    (100, 8, 2, 3, "train avg > 0"),
    (300, 1, 1, 8, "train avg > 0, TSN"),
    (10, 8, 1, 8, "train n > max(num_clips, span)"),
    (8, 8, 1, 3, "train avg == 0"),
    (5, 8, 1, 2, "train zeros"),
]


@pytest.mark.parametrize("n,clip_len,fi,k,branch", CASES)
@pytest.mark.parametrize("opt", ["loop", "repeat_last"])
def test_train_branches_match_spec(n, clip_len, fi, k, branch, opt):
    for seed in range(5):
        np.random.seed(seed)
        expected = spec_indices(n, clip_len, fi, k, False, opt)
        np.random.seed(seed)
        out = run(n, clip_len=clip_len, frame_interval=fi, num_clips=k, out_of_bound_opt=opt)
        np.testing.assert_array_equal(out["frame_inds"], expected, err_msg=branch)
        assert out["frame_inds"].dtype == np.int32  # as MMAction2
        assert (out["clip_len"], out["frame_interval"], out["num_clips"]) == (clip_len, fi, k)


def test_branch_values_spelled_out():
    # avg == 0: offsets round([0, 1/3, 2/3]) = [0, 0, 1]
    out = run(8, clip_len=8, num_clips=3)
    np.testing.assert_array_equal(out["frame_inds"].reshape(3, 8)[:, 0], [0, 0, 1])
    # zeros branch: loop wraps, repeat_last clamps
    np.testing.assert_array_equal(run(5, clip_len=8, num_clips=2)["frame_inds"][:8], [0, 1, 2, 3, 4, 0, 1, 2])
    np.testing.assert_array_equal(run(5, clip_len=8, num_clips=2, out_of_bound_opt="repeat_last")["frame_inds"][:8],
                                  [0, 1, 2, 3, 4, 4, 4, 4])


@pytest.mark.parametrize("n,clip_len,fi,k", [(100, 1, 1, 8), (7, 1, 1, 8), (100, 16, 2, 3), (100, 16, 2, 1),
                                             (20, 16, 2, 3), (20, 16, 2, 1), (64, 32, 2, 10)])
@pytest.mark.parametrize("opt", ["loop", "repeat_last"])
def test_test_mode_matches_spec(n, clip_len, fi, k, opt):
    out = run(n, clip_len=clip_len, frame_interval=fi, num_clips=k, test_mode=True, out_of_bound_opt=opt)
    np.testing.assert_array_equal(out["frame_inds"], spec_indices(n, clip_len, fi, k, True, opt))


def test_repeat_last_repeats_each_clips_last_index():
    # span 31 > 20 frames: one clip at 0 with indices 0, 2, ..., 30; the last inside is 18, not 19.
    out = run(20, clip_len=16, frame_interval=2, test_mode=True, out_of_bound_opt="repeat_last")
    np.testing.assert_array_equal(out["frame_inds"], list(range(0, 20, 2)) + [18] * 6)


def test_test_mode_values_spelled_out():
    np.testing.assert_array_equal(run(100, clip_len=1, num_clips=4, test_mode=True)["frame_inds"], [12, 37, 62, 87])
    # span = 31, max offset 69: k=3 -> round([0, 34.5, 69]); k=1 -> 69 // 2
    out = run(100, clip_len=16, frame_interval=2, num_clips=3, test_mode=True)["frame_inds"].reshape(3, 16)
    np.testing.assert_array_equal(out[:, 0], [0, 34, 69])
    assert out[2, -1] == 99
    assert run(100, clip_len=16, frame_interval=2, test_mode=True)["frame_inds"][0] == 34


def test_test_mode_is_deterministic():
    np.random.seed(0)
    a = run(123, clip_len=8, frame_interval=4, num_clips=5, test_mode=True)["frame_inds"]
    np.random.seed(1)
    b = run(123, clip_len=8, frame_interval=4, num_clips=5, test_mode=True)["frame_inds"]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("test_mode", [False, True])
def test_start_index_is_added(test_mode):
    np.random.seed(3)
    base = run(50, clip_len=4, frame_interval=3, num_clips=2, test_mode=test_mode)["frame_inds"]
    np.random.seed(3)
    shifted = run(50, start_index=1, clip_len=4, frame_interval=3, num_clips=2, test_mode=test_mode)["frame_inds"]
    np.testing.assert_array_equal(shifted, base + 1)


def test_twice_sample_and_keep_tail_and_jitter():
    out = run(100, clip_len=1, num_clips=4, test_mode=True, twice_sample=True)
    np.testing.assert_array_equal(out["frame_inds"], [12, 37, 62, 87, 0, 25, 50, 75])
    # Four clips spaced by the two-clip step max_offset / (2 - 1) = 92, looped; num_clips stays 2.
    out = run(100, clip_len=8, num_clips=2, test_mode=True, twice_sample=True)
    assert len(out["frame_inds"]) == 32 and out["num_clips"] == 2
    np.testing.assert_array_equal(out["frame_inds"].reshape(4, 8)[:, 0], [0, 92, 84, 76])
    with pytest.raises(ConfigError, match="twice_sample"):
        SampleFrames(clip_len=8, num_clips=1, test_mode=True, twice_sample=True)
    np.random.seed(0)
    for _ in range(20):
        inds = run(100, clip_len=4, frame_interval=2, num_clips=4, keep_tail_frames=True)["frame_inds"]
        assert inds.min() >= 0 and inds.max() < 100
    np.random.seed(0)
    inds = run(1000, clip_len=8, frame_interval=8, temporal_jitter=True)["frame_inds"]
    steps = np.diff(inds)
    assert steps.min() >= 1 and steps.max() <= 15 and len(set(steps)) > 1


def test_target_fps_and_bad_args():
    out = SampleFrames(clip_len=4, frame_interval=2, target_fps=15, test_mode=True)(
        dict(total_frames=300, start_index=0, avg_fps=30.0))
    inds = out["frame_inds"]
    assert len(inds) == 4 and inds[-1] - inds[0] == 15  # 8 frames at 15 fps = 16 at 30 fps
    # 8 frames at 15 fps = 15.98 at 29.97 fps: linspace(0, 14.98, 4) floors to steps 4, 5, 5 (rounding: 5, 5, 5)
    out = SampleFrames(clip_len=4, frame_interval=2, target_fps=15, test_mode=True)(
        dict(total_frames=300, start_index=0, avg_fps=29.97))
    np.testing.assert_array_equal(np.diff(out["frame_inds"]), [4, 5, 5])
    with pytest.raises(ConfigError, match="out_of_bound_opt"):
        SampleFrames(clip_len=1, out_of_bound_opt="wrap")
    with pytest.raises(ConfigError, match="clip_len"):
        SampleFrames(clip_len=0)


def test_dense_sample_frames():
    np.random.seed(0)
    out = DenseSampleFrames(clip_len=4, frame_interval=2, num_clips=2, sample_range=32)(
        dict(total_frames=100, start_index=0))
    inds = out["frame_inds"].reshape(2, 4)
    assert inds[1, 0] - inds[0, 0] == 16 and (np.diff(inds, axis=1) == 2).all()
    out = DenseSampleFrames(clip_len=4, num_clips=2, sample_range=32, num_sample_positions=3, test_mode=True)(
        dict(total_frames=100, start_index=0))
    assert out["num_clips"] == 2 and out["frame_inds"].reshape(6, 4)[:, 0].tolist() == [0, 16, 34, 50, 68, 84]


def test_uniform_sample():
    np.random.seed(0)
    out = UniformSample(clip_len=8)(dict(total_frames=80, start_index=0))
    inds = out["frame_inds"]
    assert ((inds // 10) == np.arange(8)).all()  # one frame per segment of 10
    assert inds.dtype == np.int32  # as MMAction2
    state = np.random.get_state()[1].copy()
    a = UniformSample(clip_len=8, num_clips=2, test_mode=True)(dict(total_frames=12, start_index=1))["frame_inds"]
    b = UniformSample(clip_len=8, num_clips=2, test_mode=True)(dict(total_frames=12, start_index=1))["frame_inds"]
    np.testing.assert_array_equal(a, b)
    assert np.array_equal(state, np.random.get_state()[1])  # test mode leaves the global RNG alone
    assert a.min() >= 1 and a.max() <= 12 and len(a) == 16
    short = UniformSample(clip_len=8)(dict(total_frames=5, start_index=0))["frame_inds"]
    assert short.max() < 5
