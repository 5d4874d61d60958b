"""``custom_hooks = [dict(type='EMAHook', momentum=0.0002)]``: an exponential moving average
of the weights, as mmengine's EMAHook with ExponentialMovingAverage keeps it.

Every ``interval`` iterations ``ema = (1 - momentum) * ema + momentum * weights`` (the
first update copies). Validation runs on the averaged weights. A checkpoint holds them
as its ``state_dict`` (so ``tools/test.py`` tests them, as in MMAction2) and the raw
weights under ``ema_state_dict``; resuming puts each back where it belongs.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any, Iterator, Literal

import torch
from torch import nn

from kinetix.engine.trainer import Hook, Trainer
from kinetix.registry import HOOKS, Between


@HOOKS.register
class EMAHook(Hook):
    priority = 49  # mmengine's: just before the NORMAL hooks

    def __init__(self, ema_type: Literal["ExponentialMovingAverage"] = "ExponentialMovingAverage",
                 momentum: Annotated[float, Between(0, 1)] = 0.0002, interval: int = 1,
                 update_buffers: bool = False, begin_iter: int = 0, begin_epoch: int = 0,
                 strict_load: bool = False) -> None:
        # The registry has checked the values against these annotations (and `interval` > 0).
        self.momentum, self.interval, self.update_buffers = float(momentum), interval, update_buffers
        self.begin_iter, self.begin_epoch = begin_iter, begin_epoch
        self.average: dict[str, torch.Tensor] = {}  # name -> averaged tensor
        self.steps = 0
        self._resumed_raw: dict[str, torch.Tensor] | None = None

    def _tracked(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """The tensors averaged: parameters, and floating buffers with ``update_buffers``."""
        tensors = dict(model.named_parameters())
        if self.update_buffers:
            tensors.update((n, b) for n, b in model.named_buffers() if b.is_floating_point())
        return tensors

    def before_train(self, trainer: Trainer) -> None:
        model = trainer.module
        if self._resumed_raw is not None:
            # The model was loaded from the checkpoint's state_dict: the averaged weights.
            self.average = {n: t.detach().clone() for n, t in self._tracked(model).items()}
            model.load_state_dict(self._resumed_raw, strict=False)
            self._resumed_raw = None
        trainer.evaluation_contexts.append(lambda: self.swapped_in(trainer))

    def after_step(self, trainer: Trainer, outputs: dict[str, Any]) -> None:
        if trainer.iter < self.begin_iter or trainer.epoch + 1 < self.begin_epoch:
            return
        tracked = self._tracked(trainer.module)
        with torch.no_grad():
            if self.steps == 0 or not self.average:
                self.average = {n: t.detach().clone() for n, t in tracked.items()}
            elif self.steps % self.interval == 0:
                for name, tensor in tracked.items():
                    self.average[name].lerp_(tensor.detach(), self.momentum)
        self.steps += 1

    @contextlib.contextmanager
    def swapped_in(self, trainer: Trainer) -> Iterator[None]:
        """The averaged weights in the model for the block (validation), then the raw ones back."""
        if not self.average:
            yield
            return
        tracked = self._tracked(trainer.module)
        raw = {n: t.detach().clone() for n, t in tracked.items()}
        with torch.no_grad():
            for name, tensor in tracked.items():
                tensor.copy_(self.average[name])
            try:
                yield
            finally:
                for name, tensor in tracked.items():
                    tensor.copy_(raw[name])

    def before_save_checkpoint(self, trainer: Trainer, checkpoint: dict[str, Any]) -> None:
        if not self.average:
            return
        raw = checkpoint["state_dict"]
        checkpoint["ema_state_dict"] = raw
        checkpoint["state_dict"] = {k: self.average[k].detach().cpu().clone() if k in self.average else v
                                    for k, v in raw.items()}
        checkpoint["meta"]["ema_steps"] = self.steps

    def after_load_checkpoint(self, trainer: Trainer, checkpoint: dict[str, Any]) -> None:
        if "ema_state_dict" in checkpoint:
            self._resumed_raw = checkpoint["ema_state_dict"]
            self.steps = int(checkpoint.get("meta", {}).get("ema_steps", 1))
