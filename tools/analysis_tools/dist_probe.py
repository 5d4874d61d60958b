"""Probes for a distributed run, loaded through ``custom_imports``.

Rehearse on your own cluster what kinetix does when one rank fails, and look
inside a multi-process run. Put this folder on PYTHONPATH (or copy the file
beside your config) and add to a config::

    custom_imports = dict(imports=['dist_probe'], allow_failed_imports=False)
    custom_hooks = [dict(type='FaultHook', kind='kill', rank=1, step=3, record='fault.txt'),
                    dict(type='RankRecordHook', out_dir='probe')]
    # or, to fail inside the data pipeline (a DataLoader worker, when num_workers > 0):
    train_pipeline = [..., dict(type='RaiseOnRank', rank=1, after=5, record='fault.txt'), ...]

``record`` files receive the wall-clock time of the failure, so that the time
from a rank's failure to the end of the job can be measured
(``tools/analysis_tools/benchmark_dist.py`` does).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import torch

from kinetix.engine import Hook, Trainer
from kinetix.registry import HOOKS, TRANSFORMS


def _rank() -> int:
    # Read from the environment: DataLoader workers have no process group of their own.
    return int(os.environ.get("RANK", 0))


def _record(path: str | None, what: str) -> None:
    if path:
        Path(path).write_text(f"{time.time()!r} {what}\n")


@TRANSFORMS.register_module()
class RaiseOnRank:
    """Pass samples through; on rank ``rank``, raise after ``after`` samples (per worker)."""

    def __init__(self, rank: int = 1, after: int = 0, record: str | None = None) -> None:
        self.rank, self.after, self.record = rank, after, record
        self.seen = 0

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        self.seen += 1
        if _rank() == self.rank and self.seen > self.after:
            _record(self.record, "raise")
            raise ValueError(f"RaiseOnRank: deliberate failure on rank {self.rank} "
                             f"at sample {self.seen}")
        return results


@HOOKS.register_module()
class FaultHook(Hook):
    """On rank ``rank``, after training step ``step`` (counted over epochs): ``kind`` is
    'raise' (an exception), 'kill' (SIGKILL to itself) or 'hang' (stop answering)."""

    def __init__(self, kind: str, rank: int = 1, step: int = 1, record: str | None = None) -> None:
        if kind not in ("raise", "kill", "hang"):
            raise ValueError(f"FaultHook.kind: expected 'raise', 'kill' or 'hang', got {kind!r}")
        self.kind, self.rank, self.step, self.record = kind, rank, step, record

    def after_step(self, trainer: Trainer, outputs: dict[str, Any]) -> None:
        if _rank() != self.rank or trainer.iter != self.step:
            return
        _record(self.record, self.kind)
        if self.kind == "raise":
            raise RuntimeError(f"FaultHook: deliberate failure on rank {self.rank} at step {self.step}")
        if self.kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        while True:  # 'hang': the other ranks wait for it in their next collective
            time.sleep(1)


@HOOKS.register_module()
class RankRecordHook(Hook):
    """Each rank writes what it saw, for comparing ranks and runs:
    ``losses_rank{R}.jsonl`` (its own loss at every step) and, after every epoch,
    ``buffers_rank{R}_epoch{E}.pt`` (its model's buffers, after SyncBuffersHook)."""

    priority = 70  # LOW: after SyncBuffersHook (NORMAL), before validation and checkpoints

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)

    def before_train(self, trainer: Trainer) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def after_step(self, trainer: Trainer, outputs: dict[str, Any]) -> None:
        with open(self.out_dir / f"losses_rank{_rank()}.jsonl", "a") as f:
            f.write(json.dumps({"step": trainer.iter, "loss": float(outputs["loss"])}) + "\n")

    def after_epoch(self, trainer: Trainer) -> None:
        model = trainer.module
        buffers = {name: b.detach().cpu().clone() for name, b in model.named_buffers()}
        torch.save(buffers, self.out_dir / f"buffers_rank{_rank()}_epoch{trainer.epoch}.pt")
