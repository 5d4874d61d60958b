"""RepeatAugDataset: one decode of a video, ``num_repeats`` augmented samples of it.

MMAction2's repeated augmentation (Hoffer et al., 2019), used by its MViT recipes:
each video a batch draws is decoded once and goes ``num_repeats`` times through
the random part of the pipeline, so a DataLoader batch of ``batch_size`` videos
holds ``batch_size * num_repeats`` samples (MMAction2's ``repeat_pseudo_collate``
flattens the per-video lists; :func:`kinetix.data.collate.collate` does so for
every dataset). ``auto_scale_lr.base_batch_size`` counts videos, as in MMAction2.

The pipeline must open with ``Init, a frame sampler, Decode`` (MMAction2 asserts
DecordInit and DecordDecode; any of kinetix's video Init/Decode names will do).
The random draws come in MMAction2's order: the sampler ``num_repeats`` times
(once with ``sample_once``), then the rest of the pipeline for repeat 0, for
repeat 1, and so on; so a seeded run samples MMAction2's frames.

A video that cannot be decoded gives one skipped-sample entry (not one per repeat),
which the collate function drops and the engine reports, as for VideoDataset.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Callable, Sequence

import numpy as np

from kinetix.data.datasets import DEFAULT_DECODE_TIMEOUT, OnMissing, Timeout, VideoDataset
from kinetix.data.decoding import VideoDecode, VideoInit
from kinetix.errors import ConfigError
from kinetix.registry import DATASETS, Positive


@DATASETS.register
class RepeatAugDataset(VideoDataset):
    """A training VideoDataset whose items are lists of ``num_repeats`` samples of one video.

    ``sample_once``: every repeat gets the same frame indices (one sampler draw),
    so repeats differ only in the transforms after decoding.
    """

    def __init__(self, ann_file: str, pipeline: Sequence[Callable[[dict], dict]],
                 data_prefix: dict | None = None, num_repeats: Annotated[int, Positive] = 4,
                 sample_once: bool = False, multi_class: bool = False,
                 num_classes: int | None = None, start_index: int = 0, modality: str = "RGB",
                 on_missing: OnMissing = "skip", decode_timeout: Timeout = DEFAULT_DECODE_TIMEOUT,
                 **kwargs: Any) -> None:
        name = type(self).__name__
        if kwargs.get("test_mode"):
            # MMAction2 builds it with test_mode=False whatever the config says.
            raise ConfigError(f"{name}.test_mode: a RepeatAugDataset is for training only; "
                              f"use VideoDataset to validate or test")
        kwargs.pop("test_mode", None)
        if isinstance(num_repeats, bool) or not isinstance(num_repeats, int) or num_repeats < 1:
            raise ConfigError(f"{name}.num_repeats: expected a positive int, got {num_repeats!r}")
        steps = list(pipeline)
        expected = ((0, VideoInit, "a video Init transform (DecordInit, PyAVInit or OpenCVInit)"),
                    (2, VideoDecode, "a video Decode transform (DecordDecode, PyAVDecode or OpenCVDecode)"))
        for i, kind, what in expected:
            if len(steps) <= i or not isinstance(steps[i], kind):
                got = type(steps[i]).__name__ if len(steps) > i else "nothing"
                raise ConfigError(f"{name}.pipeline.{i}: expected {what} (the pipeline must start with "
                                  f"Init, a frame sampler, Decode), got {got}")
        super().__init__(ann_file, steps, data_prefix, multi_class, num_classes, start_index, modality,
                         test_mode=False, on_missing=on_missing, decode_timeout=decode_timeout, **kwargs)
        self.num_repeats = num_repeats
        self.sample_once = bool(sample_once)

    def run_pipeline(self, results: dict) -> list[dict]:
        init, sample, decode, *rest = self.pipeline
        results = init(results)

        def draw() -> dict:
            # The sampler sees only total_frames and start_index, as in MMAction2 (so a
            # target_fps sampler works as if avg_fps were unknown here too).
            return sample(dict(total_frames=results["total_frames"], start_index=results["start_index"]))

        draws = [draw()] * self.num_repeats if self.sample_once else \
            [draw() for _ in range(self.num_repeats)]
        per_repeat = [np.asarray(d["frame_inds"]).reshape(-1) for d in draws]
        results.update(draws[-1])  # clip_len, frame_interval, num_clips
        results["frame_inds"] = np.concatenate(per_repeat)
        results = decode(results)  # one decode for all repeats; the reader decodes a frame once
        imgs = results.pop("imgs")
        samples, start = [], 0
        for inds in per_repeat:
            one = copy.deepcopy(results)
            one["frame_inds"] = inds
            one["imgs"] = list(imgs[start:start + len(inds)])
            start += len(inds)
            for step in rest:
                one = step(one)
            samples.append(one)
        return samples
