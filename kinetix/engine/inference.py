"""Run a model over a dataloader and collect predictions in dataset order.

Each rank predicts its own shard; evaluation loaders are not padded, so every
sample is predicted exactly once over all ranks. Predictions carry their
dataset index, so after gathering we put them back in order: the result is
the same whatever the number of processes. (A custom sampler that pads still
works: repeats are dropped, and ``evaluated`` counts them.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from torch import nn

from kinetix.dist import all_gather_object
from kinetix.engine.logs import logs_above_bars
from kinetix.engine.precision import autocast, choose_precision
from kinetix.engine.skips import SkipLog
from kinetix.utils.progress import progress_bar


@dataclass
class Skip:
    """A sample that was not predicted: its dataset position, file, why, and its label."""
    index: int
    filename: str
    reason: str
    label: Any = None


@dataclass
class Predictions:
    indices: np.ndarray                  # (N,) dataset positions, ascending
    scores: np.ndarray                   # (N, num_classes) float32
    labels: np.ndarray                   # (N,) int64 or (N, num_classes) multi-hot
    filenames: list[str] = field(default_factory=list)  # (N,) the video (or frame folder) of each
    skipped: list[str] = field(default_factory=list)  # undecodable videos, over all ranks, sorted
    skips: list[Skip] = field(default_factory=list)   # the skipped samples, by ascending index
    evaluated: int = 0                   # predictions computed over all ranks, repeats included

    def __len__(self) -> int:
        return len(self.indices)


@torch.no_grad()
def predict(model: nn.Module, loader: Any, device: torch.device, amp: bool = False,
            on_batch: Callable[[dict, torch.Tensor], None] | None = None,
            progress: bool = False, skip_log: SkipLog | None = None,
            fixed_batch: bool = False) -> Predictions:
    """Predict over this rank's shard, then gather and order over all ranks.

    ``skip_log`` remembers which undecodable videos were already warned about,
    and learns of the other ranks' ones here. ``fixed_batch`` (for compiled models)
    pads a short batch to the loader's batch size by repeating its last sample, and
    drops the extra scores: one input shape, one compiled graph.
    """
    model.eval()
    skip_log = skip_log or SkipLog()
    dtype = choose_precision(device, enabled=amp).dtype  # --amp: bf16/fp16 only where fast
    indices, scores, labels, filenames, skips = [], [], [], [], []
    batches = loader
    if progress:  # drawn only on a terminal (kinetix.utils.progress)
        batches = _logging_above(progress_bar(loader, desc="test", unit="batch", leave=False))
    for batch in batches:
        skip_log.note(batch)
        skips += [Skip(int(i), name, why, label) for i, name, why, label in
                  zip(batch.get("skipped_indices", []), batch.get("skipped", []),
                      batch.get("skip_reasons", []), batch.get("skipped_labels", []))]
        if batch.get("inputs") is None or len(batch["inputs"]) == 0:
            continue
        count = len(batch["inputs"])
        with autocast(device, dtype):
            batch_scores = model(_padded(batch, loader.batch_size) if fixed_batch else batch,
                                 mode="predict")[:count].float()
        if on_batch is not None:
            batch_scores = batch_scores.cpu()
            on_batch(batch, batch_scores)
        # Scores stay on the device until the end: reading them per batch would make
        # the host wait for the GPU before it can queue the next batch. They are copied,
        # because under compile mode 'reduce-overhead' the head's output lives in a CUDA
        # graph's memory that the next batch's replay overwrites.
        scores.append(batch_scores.clone() if batch_scores.is_cuda else batch_scores)
        indices.append(batch["indices"].cpu().numpy())
        labels.append(batch["labels"].cpu().numpy())
        filenames.append(list(batch.get("filenames") or [""] * count))
    scores = [s.numpy() for s in torch.cat(scores).cpu().split([len(i) for i in indices])] if scores else []
    local = (indices, scores, labels, filenames, skips)
    preds = _merge(all_gather_object(local))
    skip_log.merge({skip.filename: skip.reason for skip in preds.skips})
    return preds


def _logging_above(bar: Iterable[dict]) -> Iterator[dict]:
    # Log lines of the test (skipped videos, say) print above the bar, not through it.
    with logs_above_bars():
        yield from bar


def _padded(batch: dict, size: int | None) -> dict:
    inputs = batch["inputs"]
    if not size or len(inputs) >= size:
        return batch
    fill = inputs[-1:].expand(size - len(inputs), *inputs.shape[1:])
    return {**batch, "inputs": torch.cat([inputs, fill])}


def _merge(shards: list[tuple]) -> Predictions:
    by_index: dict[int, tuple[np.ndarray, np.ndarray, str]] = {}
    skips: dict[int, Skip] = {}
    evaluated = 0
    for indices, scores, labels, filenames, shard_skips in shards:
        skips.update((skip.index, skip) for skip in shard_skips)
        for idx_batch, score_batch, label_batch, name_batch in zip(indices, scores, labels, filenames):
            evaluated += len(idx_batch)
            for i, s, l, name in zip(idx_batch, score_batch, label_batch, name_batch):
                by_index.setdefault(int(i), (s, l, name))  # padded repeats are dropped here
    order = sorted(by_index)
    skip_list = [skips[i] for i in sorted(skips)]
    skipped = sorted({skip.filename for skip in skip_list})
    if not order:
        return Predictions(np.zeros(0, np.int64), np.zeros((0, 0), np.float32),
                           np.zeros(0, np.int64), skipped=skipped, skips=skip_list, evaluated=evaluated)
    return Predictions(indices=np.array(order, dtype=np.int64),
                       scores=np.stack([by_index[i][0] for i in order]),
                       labels=np.stack([by_index[i][1] for i in order]),
                       filenames=[by_index[i][2] for i in order],
                       skipped=skipped, skips=skip_list, evaluated=evaluated)
