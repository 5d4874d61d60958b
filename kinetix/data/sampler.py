"""DefaultSampler: epoch-seeded shuffling, sharded across ranks."""

from __future__ import annotations

import math
import random
from typing import Iterator, Sized

import torch
from torch.utils.data import Sampler

from kinetix import dist
from kinetix.registry import SAMPLERS


@SAMPLERS.register
class DefaultSampler(Sampler[int]):
    """Indices for this rank: ``perm(seed + epoch)[rank::world_size]``.

    Every rank must draw the same permutation, so the seed has to be shared:
    the engine passes the run seed. ``seed=None`` makes rank 0 draw one and
    broadcast it (never a silent constant). With ``round_up`` the index list
    is padded by wrapping around so every rank gets the same count, which
    keeps collective ops in step; without it ranks may differ by one.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: int | None = None,
                 round_up: bool = True) -> None:
        self.dataset = dataset
        self.shuffle = shuffle
        if seed is None:
            seed = dist.broadcast_object(random.SystemRandom().randrange(2 ** 31))
        self.seed = int(seed)
        self.round_up = round_up
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        self.epoch = 0

    def _total(self) -> int:
        n = len(self.dataset)
        return math.ceil(n / self.world_size) * self.world_size if self.round_up else n

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed + self.epoch)
            indices = torch.randperm(n, generator=gen).tolist()
        else:
            indices = list(range(n))
        if self.round_up and n:
            total = self._total()
            indices = (indices * math.ceil(total / n))[:total]
        return iter(indices[self.rank::self.world_size])

    def __len__(self) -> int:
        total = self._total()
        if self.round_up:
            return total // self.world_size
        return len(range(self.rank, total, self.world_size))

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (same permutation on every rank)."""
        self.epoch = int(epoch)
