"""A small epoch-based trainer with a five-method hook protocol.

The loop only does what every run needs: move through epochs and batches, set
the learning rate, compute the loss, step the optimiser. Everything optional
(logging, validation, checkpoints) is a :class:`Hook`, called in list order.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from kinetix.dist import all_gather_object, all_ranks_agree, get_world_size
from kinetix.engine.logs import ScalarWriter
from kinetix.engine.optim import clip_gradients
from kinetix.engine.precision import Precision, autocast, choose_precision, make_grad_scaler
from kinetix.engine.schedulers import LRSchedule
from kinetix.engine.skips import SkipLog
from kinetix.errors import DataError, KinetixError


class Hook:
    """Override what you need. ``trainer.epoch`` counts completed epochs.

    Hooks run in order of ``priority`` (mmengine's scale: 0 first, 100 last;
    50 is NORMAL), ties in the order they were given. A hook with state of its
    own may also define mmengine's ``before_save_checkpoint(trainer, checkpoint)``
    and ``after_load_checkpoint(trainer, checkpoint)``, and may add a context
    manager factory to ``trainer.evaluation_contexts`` (entered around validation).
    """

    priority: int = 50

    def before_train(self, trainer: "Trainer") -> None: ...

    def before_epoch(self, trainer: "Trainer") -> None: ...

    def after_step(self, trainer: "Trainer", outputs: dict[str, Any]) -> None: ...

    def after_epoch(self, trainer: "Trainer") -> None: ...

    def after_train(self, trainer: "Trainer") -> None: ...


class Trainer:
    """Runs epochs (or, with ``max_iters``, iterations) of training; hooks do the rest.

    Stopping and resuming gives the run that never stopped: a checkpoint holds
    the model, optimizer and scaler, the position (epoch, iteration, batches
    done in the epoch) and the random states of the process; the data side
    needs no state because each sample's randomness depends only on (seed,
    epoch, index) (``kinetix.data.seeding``).

    With ``other_loaders`` (MMAction2's MultiLoaderEpochBasedTrainLoop), each step
    takes one batch of every loader and gives the model the list, ``train_loader``'s
    first; the epoch ends with the shortest loader, and every loader starts afresh.
    """

    def __init__(self, *, model: nn.Module, optimizer: torch.optim.Optimizer,
                 train_loader: Any, max_epochs: int | None, lr_schedule: LRSchedule,
                 hooks: Sequence[Hook], device: torch.device, work_dir: Path,
                 scalars: ScalarWriter, meta: dict[str, Any] | None = None,
                 clip_grad: dict | None = None, amp: bool | Precision = False, max_iters: int | None = None,
                 accumulative_counts: int = 1, skip_log: SkipLog | None = None,
                 other_loaders: Sequence[Any] = ()) -> None:
        if (max_epochs is None) == (max_iters is None):
            raise ValueError("Trainer: give exactly one of max_epochs and max_iters")
        self.model = model
        self.optimizer = optimizer
        self.train_loader = train_loader
        self.loaders = [train_loader, *other_loaders]
        self.by_epoch = max_iters is None
        self._max_iters = max_iters
        self.max_epochs = max_epochs if max_epochs is not None else -(-max_iters // max(self.iters_per_epoch, 1))
        self.lr_schedule = lr_schedule
        self.hooks = list(hooks)
        self.device = device
        self.clip_grad = clip_grad
        # ``amp``: the runner's Precision, or a bool for the device's default policy.
        self.precision = amp if isinstance(amp, Precision) else choose_precision(device, enabled=amp)
        self.amp = self.precision.dtype  # the autocast dtype; None: fp32
        self.accumulative_counts = accumulative_counts
        self.work_dir = work_dir
        self.scalars = scalars
        self.meta = dict(meta or {})  # saved in every checkpoint (seed, config, ...)
        self.metrics: dict[str, float] = {}  # the latest validation result
        self.logged: dict[str, Any] = {}    # the latest values LoggerHook logged (host numbers)
        self.best: dict[str, Any] = {}      # best score, its epoch and file (CheckpointHook)
        self.scaler = make_grad_scaler(device, self.precision)  # enabled for fp16 only
        self.epoch = 0          # completed epochs
        self.iter = 0           # completed iterations, over all epochs
        self.inner_iter = 0     # index of the current batch within the epoch
        self.batches_done = 0   # batches of the current epoch already consumed (resume point)
        self.skipped: list[str] = []  # undecodable videos of the last epoch, over all ranks
        self._epoch_skips: dict[str, str] = {}  # this rank's, this epoch: name -> reason
        self.skip_log = skip_log or SkipLog()  # warns once per video and lists them (validation shares it)
        self.evaluation_contexts: list[Callable[[], contextlib.AbstractContextManager]] = []
        # (step of the first non-finite loss or -1, its loss, steps since the last check)
        self._nonfinite = torch.tensor([-1.0, 0.0, 0.0], device=device)
        self._unchecked: list[tuple[int, int]] = []
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])

    @property
    def module(self) -> nn.Module:
        """The model itself, without its DistributedDataParallel wrapper."""
        return self.model.module if hasattr(self.model, "module") else self.model

    @property
    def iters_per_epoch(self) -> int:
        return min(len(loader) for loader in self.loaders)

    @property
    def max_iters(self) -> int:
        return self._max_iters if self._max_iters is not None else self.max_epochs * self.iters_per_epoch

    @property
    def done(self) -> bool:
        return self.iter >= self.max_iters if not self.by_epoch else self.epoch >= self.max_epochs

    def call_hooks(self, method: str, *args: Any) -> None:
        for hook in self.hooks:
            getattr(hook, method)(self, *args)

    def train(self) -> None:
        self.call_hooks("before_train")
        while not self.done:
            self.call_hooks("before_epoch")
            if self.run_epoch():
                self.epoch += 1
                self.batches_done = 0
                self.call_hooks("after_epoch")
        self.call_hooks("after_train")

    def run_epoch(self) -> bool:
        """Train on the rest of this epoch; False if ``max_iters`` stopped it part-way."""
        self.model.train()
        start = self.batches_done  # > 0 when resuming inside this epoch
        for loader in self.loaders:
            sampler = getattr(loader, "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(self.epoch)  # a new, seeded shuffle every epoch
            if start:
                sampler.skip_next(start * loader.batch_size)
        if not start:
            self._epoch_skips = {}
        start_iter = self.iter
        tick = time.perf_counter()
        for self.inner_iter, batch in enumerate(self._batches(start), start=start):
            data_time = time.perf_counter() - tick
            for source in _sources(batch):
                self._epoch_skips.update(self.skip_log.note(source))
            self.batches_done = self.inner_iter + 1
            if not self._all_ranks_have_data(batch):
                tick = time.perf_counter()
                continue
            outputs = self.run_step(batch)
            self.iter += 1
            outputs["data_time"] = data_time
            outputs["time"] = time.perf_counter() - tick
            self.call_hooks("after_step", outputs)
            if self.done:
                self.raise_if_nonfinite()
                self._share_skips()
                return False
            tick = time.perf_counter()
        self.raise_if_nonfinite()
        self._share_skips()
        if self.iter == start_iter and start < self.iters_per_epoch:
            raise DataError(f"epoch {self.epoch + 1}: no batch could be trained on; "
                            f"{len(self.skipped)} video(s) were undecodable, e.g. {self.skipped[:1]}")
        return True

    def _batches(self, start: int) -> Iterator[Any]:
        """The rest of the epoch: batch dicts, or with other loaders lists of them."""
        if len(self.loaders) == 1:
            return iter(self.train_loader)
        # Stop at the shortest loader's last batch, without fetching one of the others to throw away.
        return (list(step) for step in itertools.islice(zip(*self.loaders), self.iters_per_epoch - start))

    def _all_ranks_have_data(self, batch: dict | list[dict]) -> bool:
        # A batch whose every video failed to decode is empty. Under DDP all
        # ranks must step together, so one empty rank makes all of them skip.
        has_data = all(b.get("inputs") is not None and len(b["inputs"]) > 0 for b in _sources(batch))
        return all_ranks_agree(has_data)

    def set_lr(self) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_schedule.lr(group["initial_lr"], self.epoch, self.iter)

    def _accumulation(self) -> tuple[bool, int]:
        """(step the optimizer after this iteration?, iterations in its accumulation window).

        As mmengine: every ``accumulative_counts`` iterations of the whole run;
        the last window may be shorter, and its losses are divided by its length.
        """
        n = self.accumulative_counts
        window_start = self.iter - self.iter % n
        window = min(n, self.max_iters - window_start)
        return (self.iter + 1) % n == 0 or self.iter + 1 >= self.max_iters, max(window, 1)

    def run_step(self, batch: dict | list[dict]) -> dict[str, Any]:
        self.set_lr()
        update, window = self._accumulation()
        # Between updates, DDP need not all-reduce gradients: they only accumulate.
        no_sync = self.model.no_sync() if not update and hasattr(self.model, "no_sync") else contextlib.nullcontext()
        with no_sync:
            with autocast(self.device, self.amp):
                losses = self.model(batch, mode="loss")
            loss = losses["loss"]
            self._note_nonfinite(loss)
            self.scaler.scale(loss / window).backward()
        outputs: dict[str, Any] = {"lr": self.optimizer.param_groups[0]["lr"]}
        if update:
            self.scaler.unscale_(self.optimizer)
            grad_norm = clip_gradients(self.model, self.clip_grad)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            if grad_norm is not None:
                outputs["grad_norm"] = grad_norm.detach()
        # Losses first, then the rest (accuracies), as MMAction2 logs them. They stay on the
        # device: reading a value on the host waits for the GPU, so LoggerHook reads them
        # all at once, every `interval` steps.
        for key in sorted(losses, key=lambda k: not k.startswith("loss")):
            outputs[key] = losses[key].detach()
        return outputs

    def _note_nonfinite(self, loss: torch.Tensor) -> None:
        """Remember, on the device, the first step whose loss was not finite.

        Checking at once would make the host wait for the GPU every step; the check
        (``raise_if_nonfinite``) runs where the host reads values anyway: at each log line,
        at the end of an epoch and before a checkpoint is written, so a bad step never
        reaches a checkpoint. The device holds (step since the last check, loss); the host
        keeps those steps' (epoch, iteration) to name the one that failed.
        """
        self._unchecked.append((self.epoch + 1, self.inner_iter + 1))
        loss = loss.detach().to(self._nonfinite.dtype)
        first = ~torch.isfinite(loss) & (self._nonfinite[0] < 0)
        self._nonfinite = torch.where(first, torch.stack([self._nonfinite[2], loss, loss]),
                                      self._nonfinite)
        self._nonfinite[2] += 1

    def raise_if_nonfinite(self) -> None:
        step, value, _ = self._nonfinite.tolist()
        if step >= 0:
            epoch, iteration = self._unchecked[int(step)]
            raise KinetixError(f"loss is {value} at epoch {epoch}, iteration {iteration}; "
                               f"lower the learning rate or check the data")
        self._unchecked.clear()
        self._nonfinite[2] = 0

    def _share_skips(self) -> None:
        """Over all ranks (one gather per epoch): the count is the job's, and rank 0
        warns about and lists the videos that other ranks met."""
        gathered = dict(self._epoch_skips)
        if get_world_size() > 1:
            gathered = {name: why for skips in all_gather_object(self._epoch_skips) for name, why in skips.items()}
        self.skip_log.merge(gathered)
        self.skipped = sorted(gathered)

    def checkpoint(self, with_optimizer: bool = True) -> dict[str, Any]:
        """Everything needed to evaluate (state_dict) or to continue exactly (the rest)."""
        self.raise_if_nonfinite()
        model = self.module
        ckpt: dict[str, Any] = {
            "meta": {**self.meta, "epoch": self.epoch, "iter": self.iter, "batches_done": self.batches_done,
                     "best": dict(self.best)},
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "message_hub": self._message_hub(),
        }
        if with_optimizer:
            ckpt["optimizer"] = self._optimizer_state()
            ckpt["param_schedulers"] = self._param_scheduler_states()
            if self.scaler.is_enabled():
                ckpt["grad_scaler"] = self.scaler.state_dict()
            ckpt["rng_state"] = random_states()
            if self.iter % self.accumulative_counts:  # saved inside an accumulation window
                ckpt["accumulated_grads"] = [None if p.grad is None else p.grad.detach().cpu()
                                             for p in model.parameters()]
        for hook in self.hooks:  # e.g. EMAHook stores its averaged weights
            if hasattr(hook, "before_save_checkpoint"):
                hook.before_save_checkpoint(self, ckpt)
        return ckpt

    def _message_hub(self) -> dict[str, Any]:
        """mmengine's ``MessageHub.state_dict()`` layout in plain values, so that mmengine's
        ``Runner.resume`` accepts the checkpoint (kinetix itself resumes from ``meta``)."""
        runtime = {"seed": self.meta.get("seed"), "loop_stage": "train", "epoch": self.epoch,
                   "iter": self.iter, "max_epochs": self.max_epochs, "max_iters": self.max_iters,
                   "dataset_meta": None}
        return {"log_scalars": {}, "runtime_info": runtime,
                "resumed_keys": {key: True for key in runtime}}

    def _optimizer_state(self) -> dict[str, Any]:
        """The optimizer's state with each group's lr for the next step, as mmengine leaves it
        (its schedulers step after an epoch or iteration); kinetix recomputes it anyway."""
        state = self.optimizer.state_dict()
        for group in state["param_groups"]:
            group["lr"] = self.lr_schedule.lr(group["initial_lr"], self.epoch, self.iter)
        return state

    def _param_scheduler_states(self) -> list[dict[str, Any]]:
        """mmengine's scheduler progress, one plain dict per scheduler in config order.

        mmengine's Runner.resume updates the schedulers it built from the config with these,
        so MMAction2 continues the schedule rather than restarting it. mmengine counts
        ``_global_step`` steps taken (epochs, or iterations when per-iteration) and
        ``last_step`` steps inside [begin, end), minus one.
        """
        groups = self.optimizer.param_groups
        base = [group["initial_lr"] for group in groups]
        now = [self.lr_schedule.lr(lr, self.epoch, self.iter) for lr in base]
        states = []
        for s in self.lr_schedule.schedulers:
            steps = self.iter if s.per_iteration else self.epoch
            begin, end = s.begin * s.scale, s.end * s.scale
            in_window = max(0, min(steps, end - 1) - begin + 1)
            states.append({"last_step": in_window - 1, "_global_step": steps,
                           "base_values": list(base), "_last_value": list(now)})
        return states

    def resume_from(self, ckpt: dict[str, Any]) -> None:
        """Continue where ``ckpt`` was saved (the model's weights are loaded by the caller)."""
        meta = ckpt.get("meta", {})
        self.epoch, self.iter = int(meta.get("epoch", 0)), int(meta.get("iter", 0))
        self.batches_done = int(meta.get("batches_done", 0))
        self.best = dict(meta.get("best") or {})
        if "optimizer" in ckpt:
            self.optimizer.load_state_dict(ckpt["optimizer"])
            for group in self.optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        if "grad_scaler" in ckpt and self.scaler.is_enabled():
            self.scaler.load_state_dict(ckpt["grad_scaler"])
        model = self.module
        for param, grad in zip(model.parameters(), ckpt.get("accumulated_grads") or []):
            param.grad = None if grad is None else grad.to(param.device)
        for hook in self.hooks:
            if hasattr(hook, "after_load_checkpoint"):
                hook.after_load_checkpoint(self, ckpt)
        if "rng_state" in ckpt:  # last: nothing may draw between here and the first step
            set_random_states(ckpt["rng_state"])


def _sources(batch: dict | list[dict]) -> list[dict]:
    """The batch of each loader in one step."""
    return batch if isinstance(batch, list) else [batch]


def random_states() -> dict[str, Any]:
    """The process's random states, as plain data a weights-only load accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    states: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state(),
                              "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss)}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    random.setstate(_as_tuples(states["python"]))
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _as_tuples(value: Any) -> Any:
    # random.setstate wants the nested tuples back (a round trip may give lists).
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
