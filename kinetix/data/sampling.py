"""Which frames to decode: SampleFrames, DenseSampleFrames, UniformSample.

The index rules are the ones MMAction2 users rely on (see the "Data" section of
the interface spec); tests re-derive them independently. Randomness goes
through the global ``np.random`` state on purpose: the DataLoader's
``worker_init_fn`` seeds it, which makes runs reproducible per seed.
"""

from __future__ import annotations

import numpy as np

from kinetix.errors import ConfigError
from kinetix.registry import TRANSFORMS

_OUT_OF_BOUND = ("loop", "repeat_last")


@TRANSFORMS.register
class SampleFrames:
    """Sample ``num_clips`` clips of ``clip_len`` frames, ``frame_interval`` apart."""

    def __init__(self, clip_len: int, frame_interval: int = 1, num_clips: int = 1,
                 temporal_jitter: bool = False, twice_sample: bool = False,
                 out_of_bound_opt: str = "loop", test_mode: bool = False,
                 keep_tail_frames: bool = False, target_fps: float | None = None) -> None:
        name = type(self).__name__
        if out_of_bound_opt not in _OUT_OF_BOUND:
            raise ConfigError(f"{name}.out_of_bound_opt must be one of {_OUT_OF_BOUND}, "
                              f"got {out_of_bound_opt!r}")
        for key, value in (("clip_len", clip_len), ("frame_interval", frame_interval),
                           ("num_clips", num_clips)):
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name}.{key} must be a positive integer, got {value!r}")
        if target_fps is not None and target_fps <= 0:
            raise ConfigError(f"{name}.target_fps must be positive, got {target_fps!r}")
        if twice_sample and test_mode and clip_len > 1 and num_clips == 1:
            # MMAction2 divides by num_clips - 1 here (ZeroDivisionError).
            raise ConfigError(f"{name}.twice_sample with clip_len > 1 needs num_clips >= 2 in test mode")
        if temporal_jitter and target_fps is not None and num_clips not in (1, clip_len):
            # MMAction2 adds one jitter per clip along the clip axis, which only broadcasts so.
            raise ConfigError(f"{name}.temporal_jitter with target_fps needs num_clips 1 or clip_len, "
                              f"got num_clips={num_clips}, clip_len={clip_len}")
        self.clip_len = int(clip_len)
        self.frame_interval = int(frame_interval)
        self.num_clips = int(num_clips)
        self.temporal_jitter = temporal_jitter
        self.twice_sample = twice_sample
        self.out_of_bound_opt = out_of_bound_opt
        self.test_mode = test_mode
        self.keep_tail_frames = keep_tail_frames
        self.target_fps = target_fps

    # ---------------------------------------------------------------- offsets
    # The arithmetic follows MMAction2 step by step, floats included (with
    # ``target_fps`` the span is fractional, and test-mode 2D offsets are
    # fractional too): indices are truncated to int32 only at the very end, so
    # every (video, seed) gives MMAction2's frames (tools/dev/check_sampling.py).
    def _span(self, fps_ratio: float) -> float:
        """Frames a clip covers in the source video (a float with ``target_fps``)."""
        if self.target_fps is not None:
            # A clip covers clip_len*frame_interval frames *at target_fps*.
            return float(np.maximum(1, self.clip_len * self.frame_interval * fps_ratio))
        if self.test_mode:
            return (self.clip_len - 1) * self.frame_interval + 1
        return self.clip_len * self.frame_interval

    def _train_offsets(self, n: int, span: float) -> np.ndarray:
        k = self.num_clips
        if self.keep_tail_frames:
            # Float strides so the last segment reaches the end of the video.
            avg = (n - span + 1) / float(k)
            if n > span - 1:
                return (np.arange(k) * avg + np.random.uniform(0, avg, k)).astype(np.int32)
            return np.zeros(k, dtype=np.int32)
        avg = (n - span + 1) // k
        if avg > 0:
            return np.arange(k) * avg + np.random.randint(avg, size=k)
        if n > max(k, span):
            return np.sort(np.random.randint(n - span + 1, size=k))
        if avg == 0:
            return np.around(np.arange(k) * ((n - span + 1.0) / k))
        return np.zeros(k, dtype=np.int32)

    def _test_offsets(self, n: int, span: float) -> np.ndarray:
        k = self.num_clips
        if self.clip_len == 1:
            # 2D models: the middle of each of k equal segments (fractional until the end).
            avg = n / float(k)
            base = np.arange(k) * avg
            offsets = base + avg / 2.0
            if self.twice_sample:  # also the segment starts
                offsets = np.concatenate([offsets, base])
            return offsets
        max_offset = max(n - span, 0)
        k_total = 2 * k if self.twice_sample else k
        if k_total == 1:
            return np.array([max_offset // 2])
        # MMAction2 spaces 2k twice-sampled clips by the k-clip step (the second
        # half runs past the end and is then looped or clamped); so do we.
        step = max_offset / float(k - 1)
        if self.target_fps is not None:  # PySlowFast's whole-frame step
            return np.arange(k_total) * np.floor(step)
        return np.round(np.arange(k_total) * step)

    def _offsets(self, n: int, span: float) -> np.ndarray:
        if self.test_mode:
            return self._test_offsets(n, span)
        return self._train_offsets(n, span)

    # ------------------------------------------------------------------- call
    def _clip_steps(self, span: float) -> np.ndarray:
        if self.target_fps is not None:
            return np.linspace(0, span - 1, self.clip_len).astype(np.int32)
        return np.arange(self.clip_len) * self.frame_interval

    def __call__(self, results: dict) -> dict:
        n = int(results["total_frames"])
        fps = results.get("avg_fps")
        ratio = fps / self.target_fps if (self.target_fps is not None and fps) else 1.0
        span = self._span(ratio)
        offsets = np.asarray(self._offsets(n, span))
        inds = offsets[:, None] + self._clip_steps(span)[None, :]
        if self.temporal_jitter:
            if self.target_fps is not None:  # one draw per clip, added along the clip (MMAction2)
                inds = inds + np.random.randint(self.frame_interval, size=len(offsets))
            else:  # one draw per frame
                inds = inds + np.random.randint(self.frame_interval, size=inds.size).reshape(inds.shape)
        inds = self._bound(inds, n)
        results["frame_inds"] = (inds.reshape(-1) + int(results.get("start_index", 0))).astype(np.int32)
        results["clip_len"] = self.clip_len
        results["frame_interval"] = self.frame_interval
        # Twice-sampled views still report num_clips=k, as MMAction2 does; the
        # views are counted from the frames (FormatShape, the recognizers).
        results["num_clips"] = self.num_clips
        return results

    def _bound(self, inds: np.ndarray, n: int) -> np.ndarray:
        if n <= 0:
            return np.zeros_like(inds)
        if self.out_of_bound_opt == "loop":
            return np.mod(inds, n)
        # 'repeat_last': each clip repeats its own last in-range index (0 if it has none).
        inside = inds < n
        last = np.max(np.where(inside, inds, 0), axis=1, keepdims=True)
        return np.where(inside, inds, last)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(clip_len={self.clip_len}, frame_interval={self.frame_interval}, "
                f"num_clips={self.num_clips}, test_mode={self.test_mode})")


@TRANSFORMS.register
class DenseSampleFrames(SampleFrames):
    """Clips packed inside a window of ``sample_range`` frames (MMAction2's dense sampling).

    Test mode repeats the clip set at ``num_sample_positions`` window starts;
    ``num_clips`` in the output stays ``num_clips`` (MMAction2's value): the
    views are counted from the frames.
    """

    def __init__(self, clip_len: int, frame_interval: int = 1, num_clips: int = 1,
                 sample_range: int = 64, num_sample_positions: int = 10,
                 temporal_jitter: bool = False, out_of_bound_opt: str = "loop",
                 test_mode: bool = False) -> None:
        # Explicit arguments (no **kwargs) so a misspelt key is a config error.
        super().__init__(clip_len, frame_interval, num_clips, temporal_jitter=temporal_jitter,
                         out_of_bound_opt=out_of_bound_opt, test_mode=test_mode)
        self.sample_range = int(sample_range)
        self.num_sample_positions = int(num_sample_positions)

    def _train_offsets(self, n: int, span: int) -> np.ndarray:
        positions = max(1, 1 + n - self.sample_range)
        interval = self.sample_range // self.num_clips
        start = 0 if positions == 1 else np.random.randint(0, positions - 1)
        return (np.arange(self.num_clips) * interval + start) % n

    def _test_offsets(self, n: int, span: int) -> np.ndarray:
        positions = max(1, 1 + n - self.sample_range)
        interval = self.sample_range // self.num_clips
        starts = np.linspace(0, positions - 1, num=self.num_sample_positions, dtype=int)
        base = np.arange(self.num_clips) * interval
        return np.concatenate([(base + s) % n for s in starts])


@TRANSFORMS.register(aliases=["UniformSampleFrames"])
class UniformSample:
    """Split the video into ``clip_len`` equal segments and take one frame from each.

    Test mode uses its own RandomState(seed) so views are the same every run
    without touching the global RNG.
    """

    def __init__(self, clip_len: int, num_clips: int = 1, test_mode: bool = False,
                 seed: int = 255) -> None:
        if clip_len < 1 or num_clips < 1:
            raise ConfigError(f"UniformSample: clip_len and num_clips must be >= 1, got {clip_len}, {num_clips}")
        self.clip_len = int(clip_len)
        self.num_clips = int(num_clips)
        self.test_mode = test_mode
        self.seed = seed

    def _one_clip(self, n: int, rng, clip_idx: int) -> np.ndarray:
        t = self.clip_len
        if n < t:
            if self.test_mode:
                start = clip_idx if n < self.num_clips else clip_idx * n // self.num_clips
            else:
                start = rng.randint(0, n)
            return np.arange(start, start + t)
        if n < 2 * t:
            # Every frame once, plus (n - t) one-frame skips at random places.
            skips = rng.choice(t + 1, n - t, replace=False)
            step = np.zeros(t + 1, dtype=np.int64)
            step[skips] = 1
            return np.arange(t) + np.cumsum(step)[:-1]
        bounds = np.array([i * n // t for i in range(t + 1)])
        return bounds[:-1] + rng.randint(np.diff(bounds))

    def __call__(self, results: dict) -> dict:
        n = int(results["total_frames"])
        rng = np.random.RandomState(self.seed) if self.test_mode else np.random
        inds = np.concatenate([self._one_clip(n, rng, i) for i in range(self.num_clips)])
        inds = np.mod(inds, max(n, 1)) + int(results.get("start_index", 0))
        results["frame_inds"] = inds.astype(np.int32)  # MMAction2's dtype
        results["clip_len"] = self.clip_len
        results["frame_interval"] = None
        results["num_clips"] = self.num_clips
        return results
