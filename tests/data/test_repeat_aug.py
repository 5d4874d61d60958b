"""RepeatAugDataset: repeats per video, batches, bad videos, seeding, ranks, config errors."""

import os
import warnings

import numpy as np
import pytest
import torch

from kinetix.data import RepeatAugDataset, build_dataloader, build_dataset, generate_synthetic
from kinetix.errors import ConfigError

REPEATS = 3


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("synth"))
    generate_synthetic(out, seed=1, num_train=1, num_val=0, num_test=0, size=32, frames=(20, 24))
    return out


def pipeline(sampler=None):
    return [dict(type="DecordInit"),
            sampler or dict(type="SampleFrames", clip_len=4, frame_interval=2, num_clips=1),
            dict(type="DecordDecode"), dict(type="RandomResizedCrop"),
            dict(type="Resize", scale=(16, 16), keep_ratio=False), dict(type="Flip", flip_ratio=0.5),
            dict(type="FormatShape", input_format="NCTHW"), dict(type="PackActionInputs")]


def repeat_cfg(ann_file, prefix, **extra):
    return dict(type="RepeatAugDataset", ann_file=ann_file, data_prefix=dict(video=prefix),
                pipeline=pipeline(), num_repeats=REPEATS, **extra)


def synth_cfg(synth, **extra):
    return repeat_cfg(os.path.join(synth, "train_list_videos.txt"), os.path.join(synth, "videos"), **extra)


def loader_cfg(dataset, **extra):
    return {**dict(batch_size=2, num_workers=0, collate_fn=dict(type="repeat_pseudo_collate"),
                   dataset=dataset), **extra}


class KeepInds:
    """Notes each repeat's frame indices (PackActionInputs does not pass them on)."""

    def __init__(self):
        self.seen = []

    def __call__(self, results):
        self.seen.append(results["frame_inds"].tolist())
        return results


@pytest.mark.parametrize("sample_once", [False, True])
def test_one_item_is_a_list_of_repeats_of_one_video(synth, sample_once):
    ds = build_dataset(synth_cfg(synth, sample_once=sample_once), "train_dataloader.dataset")
    keep = KeepInds()
    ds.pipeline.insert(3, keep)
    differ = False
    for seed in range(4):
        np.random.seed(seed)
        keep.seen.clear()
        out = ds[5]
        assert isinstance(out, list) and len(out) == REPEATS
        assert all(s["index"] == 5 and int(s["label"]) == ds.data_list[5]["label"] for s in out)
        assert all(s["inputs"].shape == (1, 3, 4, 16, 16) for s in out)
        inds = keep.seen
        assert len(inds) == REPEATS
        if sample_once:
            assert all(i == inds[0] for i in inds)
        differ |= len({tuple(i) for i in inds}) > 1
    assert differ != sample_once  # separate draws differ for some seed; one draw never does


def test_batches_hold_videos_times_repeats_and_skip_bad_videos_once(tmp_path, synth):
    good = os.path.join(synth, "videos", "train", "move_left_0000.mp4")
    (tmp_path / "good.mp4").write_bytes(open(good, "rb").read())
    (tmp_path / "garbage.mp4").write_bytes(os.urandom(3000))
    ann = tmp_path / "list.txt"
    ann.write_text("good.mp4 0\ngarbage.mp4 1\ngood.mp4 2\n")
    cfg = loader_cfg(repeat_cfg(str(ann), str(tmp_path)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # repeat_pseudo_collate is what kinetix's collate does
        loader = build_dataloader(cfg, "train_dataloader", seed=0, shuffle_default=False)
    first, second = list(loader)
    assert first["indices"].tolist() == [0] * REPEATS
    assert first["skipped"] == [str(tmp_path / "garbage.mp4")] and first["skipped_indices"].tolist() == [1]
    assert first["skipped_labels"] == [1] and first["skip_reasons"][0]
    assert first["inputs"].shape[0] == first["labels"].shape[0] == REPEATS
    assert second["indices"].tolist() == [2] * REPEATS and second["labels"].tolist() == [2] * REPEATS


def test_seeded_loaders_with_workers_are_reproducible(synth):
    def first_batch(seed):
        loader = build_dataloader(loader_cfg(synth_cfg(synth), num_workers=2), "train_dataloader",
                                  seed=seed, shuffle_default=True)
        return next(iter(loader))

    a, b, c = first_batch(3), first_batch(3), first_batch(4)
    assert a["inputs"].shape[0] == 2 * REPEATS
    assert torch.equal(a["inputs"], b["inputs"]) and torch.equal(a["indices"], b["indices"])
    assert not torch.equal(a["inputs"], c["inputs"])
    # The repeats of one video were augmented differently.
    assert not torch.equal(a["inputs"][0], a["inputs"][1])


def test_ranks_share_the_videos_each_with_all_its_repeats(synth):
    seen = []
    for rank in range(2):
        loader = build_dataloader(loader_cfg(synth_cfg(synth)), "train_dataloader", seed=7,
                                  shuffle_default=True)
        loader.sampler.sampler.rank, loader.sampler.sampler.world_size = rank, 2  # as on 2 ranks
        seen += [i for batch in loader for i in batch["indices"].tolist()]
    counts = np.bincount(seen)
    assert len(counts) == len(loader.dataset) and set(counts.tolist()) == {REPEATS}


def test_wrapped_in_repeat_dataset_every_repeat_gets_the_outer_index(synth):
    ds = build_dataset(dict(type="RepeatDataset", times=2, dataset=synth_cfg(synth)),
                       "train_dataloader.dataset")
    out = ds[len(ds) // 2 + 1]
    assert [s["index"] for s in out] == [len(ds) // 2 + 1] * REPEATS


def test_config_errors_name_the_key(synth):
    with pytest.raises(ConfigError, match=r"train_dataloader\.dataset\.num_repeats"):
        build_dataset(dict(synth_cfg(synth), num_repeats=0), "train_dataloader.dataset")
    bad = synth_cfg(synth)
    bad["pipeline"] = bad["pipeline"][1:]  # no Init first
    with pytest.raises(ConfigError, match=r"RepeatAugDataset\.pipeline\.0: expected a video Init"):
        build_dataset(bad, "train_dataloader.dataset")
    bad = synth_cfg(synth)
    del bad["pipeline"][2]  # no Decode third
    with pytest.raises(ConfigError, match=r"RepeatAugDataset\.pipeline\.2: expected a video Decode"):
        build_dataset(bad, "train_dataloader.dataset")
    with pytest.raises(ConfigError, match="training only"):
        build_dataset(synth_cfg(synth, test_mode=True), "val_dataloader.dataset")
    with pytest.raises(ConfigError, match="num_repeats"):  # built in code: checked there too
        RepeatAugDataset(os.path.join(synth, "train_list_videos.txt"), [], num_repeats=True)
