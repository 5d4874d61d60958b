"""Per-sample seeds: what a training sample looks like depends on (seed, epoch, index) only."""

import pytest
import torch

from kinetix.data import build_dataloader, generate_synthetic
from kinetix.data.seeding import SeededSampler, sample_seed

# Random crops and flips, so that a wrong seed would show.
PIPELINE = [dict(type="DecordInit"), dict(type="SampleFrames", clip_len=1, frame_interval=1, num_clips=4),
            dict(type="DecordDecode"), dict(type="RandomResizedCrop"), dict(type="Resize", scale=(16, 16),
            keep_ratio=False), dict(type="Flip", flip_ratio=0.5), dict(type="FormatShape", input_format="NCHW"),
            dict(type="PackActionInputs")]


@pytest.fixture(scope="module")
def loader_cfg(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeding")
    generate_synthetic(str(root), seed=2, num_train=2, num_val=1, num_test=0, size=32, frames=(10, 12))
    dataset = dict(type="VideoDataset", ann_file=str(root / "train_list_videos.txt"),
                   data_prefix=dict(video=str(root / "videos")), pipeline=PIPELINE)

    def cfg(num_workers: int) -> dict:
        return dict(batch_size=4, num_workers=num_workers, persistent_workers=num_workers > 0, dataset=dataset)
    return cfg


def epochs(loader, count: int = 2) -> list[torch.Tensor]:
    out = []
    for epoch in range(count):
        loader.sampler.set_epoch(epoch)
        out += [batch["inputs"] for batch in loader]
    return out


def test_workers_do_not_change_what_samples_look_like(loader_cfg):
    inline = epochs(build_dataloader(loader_cfg(0), "train_dataloader", seed=5, shuffle_default=True))
    workers = epochs(build_dataloader(loader_cfg(2), "train_dataloader", seed=5, shuffle_default=True))
    assert all(torch.equal(a, b) for a, b in zip(inline, workers))
    other = epochs(build_dataloader(loader_cfg(0), "train_dataloader", seed=6, shuffle_default=True))
    assert not all(torch.equal(a, b) for a, b in zip(inline, other))


def test_a_pass_can_start_part_way(loader_cfg):
    loader = build_dataloader(loader_cfg(0), "train_dataloader", seed=5, shuffle_default=True)
    loader.sampler.set_epoch(1)
    full = [batch["inputs"] for batch in loader]
    loader.sampler.skip_next(2 * loader.batch_size)
    rest = [batch["inputs"] for batch in loader]
    assert len(rest) == len(full) - 2 and all(torch.equal(a, b) for a, b in zip(full[2:], rest))
    assert len(list(loader)) == len(full)  # the skip applies to one pass only


def test_loading_in_the_main_process_leaves_its_random_stream_alone(loader_cfg):
    loader = build_dataloader(loader_cfg(0), "train_dataloader", seed=5, shuffle_default=True)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    list(loader)  # augmentations draw from per-sample seeds, then restore
    assert torch.equal(torch.rand(3), expected)


def test_seeds_differ_by_epoch_and_index():
    seeds = {sample_seed(1, epoch, index) for epoch in range(3) for index in range(50)}
    assert len(seeds) == 150
    sampler = SeededSampler(list(range(6)), seed=1)
    assert [s for _, s in sampler] == [sample_seed(1, 0, i) for i in range(6)]
