"""A live progress bar for training, beside the log lines.

The log keeps MMAction2's lines (with the run's ``eta``) every ``interval``
iterations, on the console and in the file; the bar only goes to a terminal
(see ``kinetix.utils.progress``) and shows the current epoch's batches, its
speed and two ETAs: tqdm's for the epoch, ours for the whole run. While a bar
is on screen, console log lines are written through tqdm so that they print
above it instead of through it.
"""

from __future__ import annotations

import contextlib
import datetime
import time
from typing import Any, Iterator

from kinetix.engine.logs import logs_above_bars
from kinetix.engine.trainer import Hook, Trainer
from kinetix.utils.progress import progress_bar, progress_enabled


class TrainProgressHook(Hook):
    """One bar per epoch (one for the whole run with ``max_iters``), advanced after each step."""

    priority = 100  # after the hooks that log, so a log line comes before the bar moves

    def __init__(self) -> None:
        self.bar: Any = None
        self.start, self.start_iter = 0.0, 0

    def before_train(self, trainer: Trainer) -> None:
        self.start, self.start_iter = time.perf_counter(), trainer.iter
        if not trainer.by_epoch:
            self.bar = progress_bar(total=trainer.max_iters, initial=trainer.iter, desc="train", unit="it")

    def before_epoch(self, trainer: Trainer) -> None:
        if trainer.by_epoch:
            self._close()
            self.bar = progress_bar(total=trainer.iters_per_epoch, initial=trainer.batches_done, unit="it",
                                    desc=f"Epoch {trainer.epoch + 1}/{trainer.max_epochs}", leave=False)

    def after_step(self, trainer: Trainer, outputs: dict[str, Any]) -> None:
        if self.bar is None:
            return
        done = trainer.iter - self.start_iter
        eta = (time.perf_counter() - self.start) / max(done, 1) * (trainer.max_iters - trainer.iter)
        # The loss of the last log line: reading this step's (a device tensor) would make
        # the host wait for the GPU at every step.
        loss = trainer.logged.get("loss")
        shown = f"loss {loss:.4f}  " if isinstance(loss, float) else ""
        self.bar.set_postfix_str(f"{shown}run eta {datetime.timedelta(seconds=int(eta))}", refresh=False)
        # Skipped batches are not steps; jump to where the epoch really is.
        where = trainer.batches_done if trainer.by_epoch else trainer.iter
        self.bar.update(where - self.bar.n)
        if where >= self.bar.total:
            self.bar.refresh()  # tqdm draws at most every 0.1 s: show the full bar once
            self._close()  # before validation logs its lines

    def after_epoch(self, trainer: Trainer) -> None:
        if trainer.by_epoch:
            self._close()

    def after_train(self, trainer: Trainer) -> None:
        self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@contextlib.contextmanager
def training_progress(hooks: list[Hook]) -> Iterator[list[Hook]]:
    """``hooks`` plus a TrainProgressHook when a terminal watches, with console logging routed
    through tqdm meanwhile; just ``hooks`` otherwise."""
    if not progress_enabled():
        yield hooks
        return
    hook = TrainProgressHook()
    try:
        with logs_above_bars():
            yield [*hooks, hook]
    finally:
        hook._close()
