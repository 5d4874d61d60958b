import math

import pytest

from kinetix.engine.schedulers import (ConstantLR, CosineAnnealingLR, LinearLR, LRSchedule,
                                       MultiStepLR)
from kinetix.errors import ConfigError


def test_multistep_by_epoch():
    schedule = LRSchedule([MultiStepLR(milestones=[2, 4], gamma=0.1, begin=0, end=10)], iters_per_epoch=5)
    lrs = [schedule.lr(1.0, epoch, epoch * 5) for epoch in range(6)]
    assert lrs == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_linear_warmup_converted_to_iterations_then_multistep():
    warmup = LinearLR(start_factor=0.1, begin=0, end=2, by_epoch=True, convert_to_iter_based=True)
    steps = MultiStepLR(milestones=[3], begin=0, end=5)
    schedule = LRSchedule([warmup, steps], iters_per_epoch=4)
    first = schedule.lr(0.5, 0, 0)
    assert first == pytest.approx(0.05)
    # ramps every iteration (not every epoch) and reaches the base lr at the end of the window
    mid = schedule.lr(0.5, 0, 3)
    assert first < mid < 0.5
    assert schedule.lr(0.5, 1, 7) == pytest.approx(0.5)
    assert schedule.lr(0.5, 2, 8) == pytest.approx(0.5)
    assert schedule.lr(0.5, 3, 12) == pytest.approx(0.05)


def test_cosine_annealing_reaches_eta_min():
    schedule = LRSchedule([CosineAnnealingLR(T_max=10, eta_min=0.001, begin=0, end=10)], iters_per_epoch=1)
    assert schedule.lr(0.1, 0, 0) == pytest.approx(0.1)
    halfway = 0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * 5 / 10)) / 2
    assert schedule.lr(0.1, 5, 5) == pytest.approx(halfway)
    assert schedule.lr(0.1, 9, 9) > 0.001
    # after the window the last value holds
    assert schedule.lr(0.1, 20, 20) == pytest.approx(schedule.lr(0.1, 9, 9))


def test_constant_lr_restores_after_window():
    schedule = LRSchedule([ConstantLR(factor=0.5, begin=0, end=2)], iters_per_epoch=1)
    assert [schedule.lr(1.0, e, e) for e in range(4)] == pytest.approx([0.5, 0.5, 1.0, 1.0])


def test_window_validation():
    with pytest.raises(ConfigError, match="end"):
        MultiStepLR(milestones=[1], begin=5, end=5)
