"""Learning-rate schedules as pure functions of training progress.

MMAction2 (mmengine) steps stateful schedulers that multiply the current lr.
Here each scheduler is a closed-form factor of its own position ``t`` inside
its ``[begin, end)`` window, and the lr of a parameter group is its base lr
times the product of all factors. Because the lr depends only on (epoch,
iteration), resuming needs no scheduler state and cannot drift.

``by_epoch=True`` schedulers advance once per epoch; with
``convert_to_iter_based=True`` (or ``by_epoch=False``) they advance every
iteration, their epoch-valued arguments scaled by the iterations per epoch.
"""

from __future__ import annotations

import math
from typing import Sequence

from kinetix.errors import ConfigError
from kinetix.registry import SCHEDULERS

_FOREVER = 2**62


class LRScheduler:
    """A factor of the base lr over the window [begin, end)."""

    def __init__(self, begin: int = 0, end: int = _FOREVER, by_epoch: bool = True,
                 convert_to_iter_based: bool = False, verbose: bool = False) -> None:
        if end <= begin:
            raise ConfigError(f"{type(self).__name__}: end ({end}) must be after begin ({begin})")
        self.begin, self.end = begin, end
        self.by_epoch = by_epoch
        self.convert_to_iter_based = convert_to_iter_based
        self.scale = 1  # iterations per step unit, set by LRSchedule

    @property
    def per_iteration(self) -> bool:
        return not self.by_epoch or self.convert_to_iter_based

    def factor(self, step: float, base_lr: float) -> float:
        """Multiplier at ``step`` steps after ``begin`` (0 <= step < length)."""
        raise NotImplementedError

    def factor_at(self, t: int, base_lr: float) -> float:
        begin, end = self.begin * self.scale, min(self.end * self.scale, _FOREVER)
        if t < begin:
            return 1.0
        if t >= end:
            return self.after_window(end - 1 - begin, base_lr)
        return self.factor(t - begin, base_lr)

    def after_window(self, last_step: int, base_lr: float) -> float:
        # The last value holds, as a stopped mmengine scheduler's does.
        return self.factor(last_step, base_lr)


@SCHEDULERS.register
class MultiStepLR(LRScheduler):
    def __init__(self, milestones: Sequence[int], gamma: float = 0.1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.milestones = sorted(milestones)
        self.gamma = gamma

    def factor(self, step: float, base_lr: float) -> float:
        passed = sum(step >= m * self.scale for m in self.milestones)
        return self.gamma ** passed


@SCHEDULERS.register
class StepLR(LRScheduler):
    def __init__(self, step_size: int, gamma: float = 0.1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.step_size, self.gamma = step_size, gamma

    def factor(self, step: float, base_lr: float) -> float:
        return self.gamma ** (step // (self.step_size * self.scale))


@SCHEDULERS.register
class LinearLR(LRScheduler):
    """Linear ramp of the factor from ``start_factor`` to ``end_factor`` (warm-up)."""

    def __init__(self, start_factor: float = 1.0 / 3, end_factor: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ConfigError("LinearLR: start_factor must be in (0, 1] and end_factor in [0, 1]")
        self.start_factor, self.end_factor = start_factor, end_factor

    def factor(self, step: float, base_lr: float) -> float:
        length = (self.end - self.begin) * self.scale
        progress = min(step / max(length - 1, 1), 1.0)
        return self.start_factor + (self.end_factor - self.start_factor) * progress


@SCHEDULERS.register
class ConstantLR(LRScheduler):
    def __init__(self, factor: float = 1.0 / 3, **kwargs) -> None:
        super().__init__(**kwargs)
        self.constant = factor

    def factor(self, step: float, base_lr: float) -> float:
        return self.constant

    def after_window(self, last_step: int, base_lr: float) -> float:
        return 1.0  # the lr returns to its base once the window is over


@SCHEDULERS.register
class CosineAnnealingLR(LRScheduler):
    def __init__(self, T_max: int | None = None, eta_min: float | None = None,
                 eta_min_ratio: float | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if eta_min is not None and eta_min_ratio is not None:
            raise ConfigError("CosineAnnealingLR: set eta_min or eta_min_ratio, not both")
        self.T_max = T_max if T_max is not None else self.end - self.begin
        self.eta_min, self.eta_min_ratio = eta_min, eta_min_ratio

    def factor(self, step: float, base_lr: float) -> float:
        floor = base_lr * self.eta_min_ratio if self.eta_min_ratio is not None else (self.eta_min or 0.0)
        cos = (1 + math.cos(math.pi * step / (self.T_max * self.scale))) / 2
        return (floor + (base_lr - floor) * cos) / base_lr if base_lr else 0.0


class LRSchedule:
    """All schedulers of a run, evaluated together for one parameter group."""

    def __init__(self, schedulers: Sequence[LRScheduler], iters_per_epoch: int) -> None:
        self.schedulers = list(schedulers)
        self.iters_per_epoch = max(iters_per_epoch, 1)
        for s in self.schedulers:
            # Per-iteration schedulers written in epochs count in iterations.
            s.scale = self.iters_per_epoch if s.by_epoch and s.convert_to_iter_based else 1

    def lr(self, base_lr: float, epoch: int, iteration: int) -> float:
        """lr for the step at ``epoch`` (0-based) and global ``iteration`` (0-based)."""
        value = base_lr
        for s in self.schedulers:
            value *= s.factor_at(iteration if s.per_iteration else epoch, base_lr)
        return value
