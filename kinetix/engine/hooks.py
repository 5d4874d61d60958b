"""The hooks of a training run: logging, validation, checkpoints.

``default_hooks`` in MMAction2 configs also name mmengine hooks whose work our
trainer does itself (timing, lr scheduling, sampler seeding); those names are
accepted and build nothing.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable

import torch

from kinetix.dist import all_reduce_mean_, barrier, get_rank, get_world_size
from kinetix.engine.checkpoint import remove_stale_temp_files, save_checkpoint, write_atomic
from kinetix.engine.logs import format_line, get_logger
from kinetix.engine.trainer import Hook, Trainer
from kinetix.errors import ConfigError, warn_config
from kinetix.registry import HOOKS

# mmengine hooks whose job is built into the Trainer.
BUILTIN_HOOKS = ("RuntimeInfoHook", "IterTimerHook", "ParamSchedulerHook", "DistSamplerSeedHook")
for _name in BUILTIN_HOOKS:
    HOOKS.register(lambda **kwargs: None, name=_name)

# mmengine's hook priorities: hooks run in this order (ties in config order).
PRIORITIES = {"HIGHEST": 0, "VERY_HIGH": 10, "HIGH": 30, "ABOVE_NORMAL": 40, "NORMAL": 50,
              "BELOW_NORMAL": 60, "LOW": 70, "VERY_LOW": 90, "LOWEST": 100}


def _warn_ignored(owner: str, ignored: dict[str, Any]) -> None:
    for key in ignored:
        warn_config(f"{owner}.{key}", "not honoured by kinetix; ignored", stacklevel=3)


@HOOKS.register
class SyncBuffersHook(Hook):
    """Average the model's buffers (BatchNorm running statistics) over ranks after each epoch.

    Each rank's BatchNorm sees only its own shard, so without this the ranks'
    running statistics drift apart and the checkpoint (rank 0's) does not score
    what validation measured. Runs before validation and checkpoint saving.
    """

    priority = PRIORITIES["NORMAL"]

    def after_epoch(self, trainer: Trainer) -> None:
        if get_world_size() == 1:
            return
        model = trainer.module
        # Integer buffers (num_batches_tracked) already agree: every rank takes the same steps.
        all_reduce_mean_([b for b in model.buffers() if b.is_floating_point()])


@HOOKS.register
class LoggerHook(Hook):
    """Every ``interval`` iterations: one log line, and the same values as JSON.

    Values are averaged over the window and over ranks, so the loss of a
    distributed run is that of the whole global batch.
    """

    priority = PRIORITIES["BELOW_NORMAL"]

    def __init__(self, interval: int = 10, ignore_last: bool = True, **ignored: Any) -> None:
        _warn_ignored("default_hooks.logger", {k: v for k, v in ignored.items()
                                               if k not in ("log_metric_by_epoch", "interval_exp_name")})
        self.interval = interval
        self.ignore_last = ignore_last
        self.window: list[dict[str, Any]] = []
        self.train_start = 0.0
        self.start_iter = 0

    def before_train(self, trainer: Trainer) -> None:
        self.train_start = time.perf_counter()
        self.start_iter = trainer.iter

    def after_step(self, trainer: Trainer, outputs: dict[str, Any]) -> None:
        self.window.append(outputs)
        if trainer.by_epoch:
            i, n = trainer.inner_iter + 1, trainer.iters_per_epoch
            prefix = f"Epoch(train) [{trainer.epoch + 1}][{i}/{n}]"
        else:  # IterBasedTrainLoop: mmengine counts over the whole run
            i, n = trainer.iter, trainer.max_iters
            prefix = f"Iter(train) [{i}/{n}]"
        last = i == n and not self.ignore_last
        if i % self.interval != 0 and not last:
            return
        trainer.raise_if_nonfinite()
        values = trainer.logged = self._summarise(trainer)
        get_logger().info(format_line(prefix, values))
        trainer.scalars.write({**values, "epoch": trainer.epoch + 1, "iter": i, "step": trainer.iter})
        self.window = []

    def _summarise(self, trainer: Trainer) -> dict[str, Any]:
        # The step's losses are device tensors: average them there and read them in one
        # transfer, the only time the host waits for the GPU in `interval` steps.
        keys = [k for k in self.window[-1] if k != "lr"]
        values = torch.stack([torch.stack([torch.as_tensor(o[k], dtype=torch.float64, device=trainer.device)
                                           for o in self.window]).mean() for k in keys])
        if get_world_size() > 1:
            # Every rank logs at the same iterations (they skip batches together).
            all_reduce_mean_([values])
        mean = dict(zip(keys, values.tolist()))
        done = trainer.iter - self.start_iter
        seconds_per_iter = (time.perf_counter() - self.train_start) / max(done, 1)
        values: dict[str, Any] = {"lr": self.window[-1]["lr"],
                                  "eta": seconds_per_iter * (trainer.max_iters - trainer.iter),
                                  "time": mean.pop("time"), "data_time": mean.pop("data_time")}
        if trainer.device.type == "cuda":
            values["memory"] = torch.cuda.max_memory_allocated(trainer.device) / 2**20
        if "grad_norm" in mean:
            values["grad_norm"] = mean.pop("grad_norm")
        values["loss"] = mean.pop("loss")
        values.update(mean)
        return values

    def after_epoch(self, trainer: Trainer) -> None:
        self.window = []
        # Over all ranks, gathered by the trainer. Each video was named in a warning
        # when first met; here it is only counted, so later epochs repeat no warning.
        skipped = trainer.skipped
        if skipped:
            listed = f", listed in {trainer.skip_log.path}" if trainer.skip_log.path is not None else ""
            get_logger().info(f"Epoch(train) [{trainer.epoch}]: skipped {len(skipped)} undecodable "
                              f"video(s){listed}")


class ValidationHook(Hook):
    """Evaluates every ``interval`` epochs (iterations, for iteration-based training)
    from ``begin``, and at the end of training."""

    priority = 80  # after the NORMAL and LOW hooks, before CheckpointHook needs the scores

    def __init__(self, evaluate: Callable[[Trainer], dict[str, float]], begin: int = 1,
                 interval: int = 1, by_epoch: bool = True) -> None:
        self.evaluate, self.begin, self.interval, self.by_epoch = evaluate, begin, interval, by_epoch

    def after_step(self, trainer: Trainer, outputs: dict[str, Any]) -> None:
        if not self.by_epoch:
            self._maybe_evaluate(trainer, trainer.iter, trainer.max_iters)

    def after_epoch(self, trainer: Trainer) -> None:
        if self.by_epoch:
            self._maybe_evaluate(trainer, trainer.epoch, trainer.max_epochs)

    def _maybe_evaluate(self, trainer: Trainer, count: int, last: int) -> None:
        trainer.metrics = {}
        if count >= self.begin and (count % self.interval == 0 or count == last):
            with contextlib.ExitStack() as stack:  # e.g. EMAHook's weights swapped in
                for context in trainer.evaluation_contexts:
                    stack.enter_context(context())
                trainer.metrics = self.evaluate(trainer)
            trainer.scalars.write({**trainer.metrics, "epoch": trainer.epoch, "step": trainer.iter})


@HOOKS.register
class CheckpointHook(Hook):
    """Every ``interval`` epochs ``epoch_N.pth`` (``by_epoch=False``: every ``interval``
    iterations ``iter_N.pth``, so a kill mid-epoch loses at most ``interval`` steps),
    ``last_checkpoint`` pointing at the newest, and one best file."""

    priority = PRIORITIES["VERY_LOW"]

    def __init__(self, interval: int = 1, by_epoch: bool = True, max_keep_ckpts: int = -1,
                 save_last: bool = True, save_best: str | None = None, rule: str | None = None,
                 save_optimizer: bool = True, out_dir: str | None = None, **ignored: Any) -> None:
        _warn_ignored("default_hooks.checkpoint", ignored)
        if rule not in (None, "greater", "less"):
            raise ConfigError(f"default_hooks.checkpoint.rule: {rule!r} is not 'greater' or 'less'")
        self.interval, self.by_epoch, self.max_keep = interval, by_epoch, max_keep_ckpts
        self.save_last, self.save_best, self.rule = save_last, save_best, rule
        self.save_optimizer, self.out_dir = save_optimizer, out_dir
        self.kept: list[Path] = []
        self.saved_at = -1  # the iteration of the newest save

    @property
    def _prefix(self) -> str:
        return "epoch" if self.by_epoch else "iter"

    def before_train(self, trainer: Trainer) -> None:
        self.dir = Path(self.out_dir) if self.out_dir else trainer.work_dir
        if get_rank() == 0 and self.dir.is_dir():
            # What a killed save left behind; nothing of this run is being written yet.
            removed = remove_stale_temp_files(self.dir)
            if removed:
                get_logger().info(f"Removed {len(removed)} temporary file(s) of interrupted saves in {self.dir}")
        # Checkpoints already on disk count towards max_keep_ckpts (a resumed run).
        done = trainer.epoch if self.by_epoch else trainer.iter
        found = sorted(self.dir.glob(f"{self._prefix}_*.pth"), key=_number)
        self.kept = [p for p in found if _number(p) <= done]

    def after_step(self, trainer: Trainer, outputs: dict[str, Any]) -> None:
        if not self.by_epoch:
            self._maybe_save_best(trainer)
            if trainer.iter % self.interval == 0:
                self._save(trainer, f"iter_{trainer.iter}.pth")

    def after_epoch(self, trainer: Trainer) -> None:
        if self.by_epoch:
            self._maybe_save_best(trainer)
            if trainer.epoch % self.interval == 0 or (self.save_last and trainer.done):
                self._save(trainer, f"epoch_{trainer.epoch}.pth")
        barrier()

    def after_train(self, trainer: Trainer) -> None:
        if self.save_last and self.saved_at != trainer.iter:
            whole_epoch = self.by_epoch and trainer.batches_done == 0
            self._save(trainer, f"epoch_{trainer.epoch}.pth" if whole_epoch else f"iter_{trainer.iter}.pth")
        barrier()

    def _save(self, trainer: Trainer, name: str) -> None:
        path = self.dir / name
        if get_rank() == 0:
            save_checkpoint(trainer.checkpoint(self.save_optimizer), path)
            write_atomic(self.dir / "last_checkpoint", str(path))
            get_logger().info(f"Saved checkpoint {path}")
        self.saved_at = trainer.iter
        if path not in self.kept:
            self.kept.append(path)
        self._prune()

    def _prune(self) -> None:
        while self.max_keep > 0 and len(self.kept) > self.max_keep:
            old = self.kept.pop(0)
            if get_rank() == 0:
                old.unlink(missing_ok=True)

    def _maybe_save_best(self, trainer: Trainer) -> None:
        if not (self.save_best and trainer.metrics):
            return
        key = next(iter(trainer.metrics)) if self.save_best == "auto" else self.save_best
        if key not in trainer.metrics:
            raise ConfigError(f"default_hooks.checkpoint.save_best: no metric {key!r}; "
                              f"the evaluator gives {', '.join(trainer.metrics)}")
        score = trainer.metrics[key]
        rule = self.rule or ("less" if "loss" in key else "greater")
        best = trainer.best
        better = best.get("score") is None or (score > best["score"] if rule == "greater" else score < best["score"])
        if not better:
            return
        when = f"epoch_{trainer.epoch}" if self.by_epoch else f"iter_{trainer.iter}"
        path = self.dir / f"best_{key.replace('/', '_')}_{when}.pth"
        previous = best.get("path")
        trainer.best = {"key": key, "score": score, "path": str(path), "epoch": trainer.epoch}
        if get_rank() == 0:
            save_checkpoint(trainer.checkpoint(self.save_optimizer), path)
            if previous and Path(previous) != path:
                Path(previous).unlink(missing_ok=True)
            get_logger().info(f"The best checkpoint with {score:.4f} {key} at {when.replace('_', ' ')} is "
                              f"saved to {path.name}.")


def _number(path: Path) -> int:
    """N of ``epoch_N.pth`` / ``iter_N.pth``."""
    return int(path.stem.split("_")[1])
