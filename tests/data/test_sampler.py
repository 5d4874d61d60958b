"""DefaultSampler: sharding across ranks, round_up padding, epoch-seeded order."""

import pytest

from kinetix import dist
from kinetix.data.sampler import DefaultSampler
from kinetix.registry import SAMPLERS, build


def shard(monkeypatch, n, world, **kwargs):
    out = []
    for rank in range(world):
        monkeypatch.setattr(dist, "get_rank", lambda r=rank: r)
        monkeypatch.setattr(dist, "get_world_size", lambda: world)
        out.append(DefaultSampler(list(range(n)), **kwargs))
    return out


def test_two_ranks_partition_the_dataset(monkeypatch):
    samplers = shard(monkeypatch, 10, 2, seed=5)
    parts = [list(s) for s in samplers]
    assert [len(p) for p in parts] == [5, 5] == [len(s) for s in samplers]
    assert sorted(parts[0] + parts[1]) == list(range(10))
    assert parts[0] != sorted(parts[0]) or parts[1] != sorted(parts[1])  # shuffled


def test_round_up_pads_by_wrapping(monkeypatch):
    samplers = shard(monkeypatch, 7, 3, shuffle=False, seed=0)
    parts = [list(s) for s in samplers]
    assert parts == [[0, 3, 6], [1, 4, 0], [2, 5, 1]]
    assert [len(s) for s in samplers] == [3, 3, 3]
    samplers = shard(monkeypatch, 7, 3, shuffle=False, seed=0, round_up=False)
    parts = [list(s) for s in samplers]
    assert parts == [[0, 3, 6], [1, 4], [2, 5]] and [len(s) for s in samplers] == [3, 2, 2]


def test_epoch_changes_order_deterministically():
    a, b = DefaultSampler(range(50), seed=1), DefaultSampler(range(50), seed=1)
    first = list(a)
    assert first == list(b) and sorted(first) == list(range(50))
    a.set_epoch(1)
    b.set_epoch(1)
    second = list(a)
    assert second != first and second == list(b)
    a.set_epoch(0)
    assert list(a) == first
    assert list(DefaultSampler(range(50), seed=2)) != first


def test_seed_none_draws_one_and_registry_build():
    s = DefaultSampler(range(5), seed=None)
    assert isinstance(s.seed, int)
    built = build(dict(type="DefaultSampler", shuffle=False), SAMPLERS, "train_dataloader.sampler",
                  dataset=range(4), seed=0)
    assert list(built) == [0, 1, 2, 3]


@pytest.mark.parametrize("n,world", [(1, 4), (0, 2)])
def test_tiny_datasets(monkeypatch, n, world):
    samplers = shard(monkeypatch, n, world, seed=0)
    assert all(len(list(s)) == len(s) for s in samplers)
