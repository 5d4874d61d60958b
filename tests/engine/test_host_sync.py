"""The training loop never makes the host wait for the device between log lines.

On a GPU, reading a tensor's value on the host (``.item()``, ``.tolist()``, ``float(t)``,
``bool(t)``, ``.cpu()``) waits for all queued work, so one per step stalls the pipeline.
This CPU test counts those reads, per step, in the real trainer with its LoggerHook and
a real recognizer; a non-finite loss is still caught, at the next read, by name.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.engine.hooks import LoggerHook
from kinetix.engine.logs import ScalarWriter
from kinetix.engine.progress import TrainProgressHook
from kinetix.engine.schedulers import LRSchedule
from kinetix.engine.trainer import Trainer
from kinetix.errors import KinetixError
from kinetix.registry import MODELS, build

READS = ("item", "tolist", "__float__", "__bool__", "__int__", "cpu", "numpy")


def tsm() -> torch.nn.Module:
    return build(dict(type="Recognizer2D",
                      backbone=dict(type="ResNetTSM", depth=18, base_channels=8, num_segments=4),
                      cls_head=dict(type="TSMHead", num_classes=5, in_channels=64, num_segments=4),
                      data_preprocessor=dict(type="ActionDataPreprocessor", mean=[0.0] * 3,
                                             std=[255.0] * 3, format_shape="NCHW")),
                 MODELS, "model")


def loader(n: int) -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    return [{"inputs": torch.randint(0, 256, (2, 4, 3, 32, 32), generator=gen, dtype=torch.uint8),
             "labels": torch.tensor([i % 5, (i + 1) % 5])} for i in range(n)]


def make_trainer(model: torch.nn.Module, batches: list[dict], interval: int, *hooks) -> Trainer:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return Trainer(model=model, optimizer=optimizer, train_loader=batches, max_epochs=1,
                   lr_schedule=LRSchedule([], len(batches)), hooks=[LoggerHook(interval=interval), *hooks],
                   device=torch.device("cpu"), work_dir=Path("."), scalars=ScalarWriter(None),
                   clip_grad=dict(max_norm=40, norm_type=2))


def count_reads(monkeypatch: pytest.MonkeyPatch, trainer: Trainer) -> collections.Counter:
    """Host reads of tensor values, by the trainer iteration they happened in."""
    reads: collections.Counter = collections.Counter()
    for name in READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, __original=original, **kwargs):
            reads[trainer.iter] += 1
            return __original(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, counted)
    return reads


def test_values_are_read_only_at_log_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KINETIX_PROGRESS", "1")   # the terminal's progress bar, too
    trainer = make_trainer(tsm(), loader(10), 5, TrainProgressHook())
    reads = count_reads(monkeypatch, trainer)
    trainer.train()
    monkeypatch.undo()
    assert trainer.iter == 10
    # Reads happen after the steps that log (5 and 10; 10 also ends the epoch), never
    # during the other eight.
    assert set(reads) <= {5, 10}, dict(reads)
    assert reads[5] > 0


def test_a_nonfinite_loss_is_named_at_the_next_read(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tsm()
    real_loss = model.cls_head.loss_cls.forward
    calls = []

    def poisoned(*args, **kwargs):
        calls.append(1)
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if len(calls) == 3 else loss
    monkeypatch.setattr(model.cls_head.loss_cls, "forward", poisoned)
    trainer = make_trainer(model, loader(10), interval=5)
    with pytest.raises(KinetixError, match=r"loss is nan at epoch 1, iteration 3;"):
        trainer.train()
    assert trainer.iter == 5   # found when the log line of step 5 read the values
