"""Run a model over a dataloader and collect predictions in dataset order.

Each rank predicts its own shard; evaluation loaders are not padded, so every
sample is predicted exactly once over all ranks. Predictions carry their
dataset index, so after gathering we put them back in order: the result is
the same whatever the number of processes. (A custom sampler that pads still
works: repeats are dropped, and ``evaluated`` counts them.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from kinetix.dist import all_gather_object, get_rank
from kinetix.engine.logs import SkipLog
from kinetix.engine.precision import autocast, choose_precision


@dataclass
class Predictions:
    indices: np.ndarray                  # (N,) dataset positions, ascending
    scores: np.ndarray                   # (N, num_classes) float32
    labels: np.ndarray                   # (N,) int64 or (N, num_classes) multi-hot
    filenames: list[str] = field(default_factory=list)  # (N,) the video (or frame folder) of each
    skipped: list[str] = field(default_factory=list)  # undecodable videos, over all ranks
    evaluated: int = 0                   # predictions computed over all ranks, repeats included

    def __len__(self) -> int:
        return len(self.indices)


@torch.no_grad()
def predict(model: nn.Module, loader: Any, device: torch.device, amp: bool = False,
            on_batch: Callable[[dict, torch.Tensor], None] | None = None,
            progress: bool = False, skip_log: SkipLog | None = None) -> Predictions:
    """Predict over this rank's shard, then gather and order over all ranks.

    ``skip_log`` remembers which undecodable videos were already warned about.
    """
    model.eval()
    skip_log = skip_log or SkipLog()
    dtype = choose_precision(device, enabled=amp).dtype  # --amp: bf16/fp16 only where fast
    indices, scores, labels, filenames, skipped = [], [], [], [], []
    batches = loader
    if progress and get_rank() == 0:
        from tqdm import tqdm  # only for interactive test runs
        batches = tqdm(loader, desc="test", unit="batch", leave=False)
    for batch in batches:
        skipped.extend(skip_log.note(batch))
        if batch.get("inputs") is None or len(batch["inputs"]) == 0:
            continue
        with autocast(device, dtype):
            batch_scores = model(batch, mode="predict")
        batch_scores = batch_scores.float().cpu()
        if on_batch is not None:
            on_batch(batch, batch_scores)
        indices.append(batch["indices"].cpu().numpy())
        scores.append(batch_scores.numpy())
        labels.append(batch["labels"].cpu().numpy())
        filenames.append(list(batch.get("filenames") or [""] * len(batch_scores)))
    local = (indices, scores, labels, filenames, skipped)
    return _merge(all_gather_object(local))


def _merge(shards: list[tuple]) -> Predictions:
    by_index: dict[int, tuple[np.ndarray, np.ndarray, str]] = {}
    skipped: set[str] = set()
    evaluated = 0
    for indices, scores, labels, filenames, skip in shards:
        skipped.update(skip)
        for idx_batch, score_batch, label_batch, name_batch in zip(indices, scores, labels, filenames):
            evaluated += len(idx_batch)
            for i, s, l, name in zip(idx_batch, score_batch, label_batch, name_batch):
                by_index.setdefault(int(i), (s, l, name))  # padded repeats are dropped here
    order = sorted(by_index)
    if not order:
        return Predictions(np.zeros(0, np.int64), np.zeros((0, 0), np.float32),
                           np.zeros(0, np.int64), sorted(skipped), evaluated)
    return Predictions(indices=np.array(order, dtype=np.int64),
                       scores=np.stack([by_index[i][0] for i in order]),
                       labels=np.stack([by_index[i][1] for i in order]),
                       filenames=[by_index[i][2] for i in order],
                       skipped=sorted(skipped), evaluated=evaluated)
