"""Per-sample random streams, so that training can stop anywhere and resume exactly.

A DataLoader worker's random state depends on which samples it happened to
process before, and that history is lost when a run is killed. Here the
randomness of each sample (crop, flip, temporal jitter) depends only on
``(seed, epoch, index)``: the sampler hands out ``(index, sample_seed)``
pairs and the dataset wrapper runs the pipeline under that seed. The same
sample gets the same augmentation whatever the number of workers or ranks,
persistent workers or not, and a resumed run continues where it stopped.

The wrapper restores the random states afterwards, so a pipeline that runs
in the main process (``num_workers=0``) does not disturb the training
stream (dropout, mixup) that checkpoints record.
"""

from __future__ import annotations

import contextlib
import random
from typing import Any, Iterator, Sized

import numpy as np
import torch
from torch.utils.data import Sampler, get_worker_info


def sample_seed(seed: int, epoch: int, index: int, stream: int = 0) -> int:
    """A 32-bit seed for one sample, well mixed (numpy's SeedSequence). ``stream`` tells
    apart loaders that share the run seed (OmniSource's image loader beside the video one),
    so that their sample k are not augmented in step."""
    entropy = [seed % 2**63, epoch, index] + ([stream] if stream else [])
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed python, numpy and torch (CPU) for the block.

    In the main process the previous states are put back afterwards; a
    DataLoader worker's own states matter to nobody, so it skips that cost.
    """
    restore = get_worker_info() is None
    if restore:
        states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    random.seed(seed)
    np.random.seed(seed)
    # The CPU generator alone: torch.manual_seed also visits every accelerator, at 20x the cost.
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        if restore:
            random.setstate(states[0])
            np.random.set_state(states[1])
            torch.set_rng_state(states[2])


class SeededSampler(Sampler):
    """Wraps a sampler: yields ``(index, sample_seed)``; can start a pass part-way."""

    def __init__(self, sampler: Sampler, seed: int, stream: int = 0) -> None:
        self.sampler = sampler
        self.seed = int(seed)
        self.stream = int(stream)
        self.epoch = 0
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def skip_next(self, count: int) -> None:
        """Leave out the first ``count`` indices of the next pass (a resumed epoch)."""
        self._skip = int(count)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        skip, self._skip = self._skip, 0
        for position, index in enumerate(self.sampler):
            if position >= skip:
                yield index, sample_seed(self.seed, self.epoch, index, self.stream)

    def __len__(self) -> int:
        return len(self.sampler)

    def __getattr__(self, name: str) -> Any:  # shuffle, round_up, ... of the wrapped sampler
        if name == "sampler":
            raise AttributeError(name)
        return getattr(self.sampler, name)


class SeededDataset:
    """Runs ``dataset[index]`` under the seed that :class:`SeededSampler` paired with it."""

    def __init__(self, dataset: Sized) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, tuple):
            index, seed = item
            with seeded(seed):
                return self.dataset[index]
        return self.dataset[item]

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)
