"""Classification accuracy for recognizers: top-k, mean class accuracy, mAP.

A metric here is a pure function of the whole test set's scores and labels.
The engine gathers predictions from every rank and puts them back in dataset
order first, so the numbers do not depend on how many processes ran.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from kinetix.errors import ConfigError
from kinetix.registry import METRICS

_KNOWN = ("top_k_accuracy", "mean_class_accuracy", "mean_average_precision")


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, topk: Sequence[int]) -> list[float]:
    """Fraction of samples whose label is among the k highest scores, for each k."""
    # argsort descending once; take the widest k needed.
    order = np.argsort(-scores, axis=1, kind="stable")
    hits = order == labels[:, None]
    return [float(hits[:, :k].any(axis=1).mean()) for k in topk]


def mean_class_accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean per-class recall over every class that is a label or a prediction.

    A class that is only ever predicted (never a label) counts with recall 0, as in
    MMAction2, whose confusion matrix spans the union of predicted and true classes.
    """
    predicted = scores.argmax(axis=1)
    classes = np.union1d(predicted, labels)
    recalls = [float((predicted[labels == c] == c).mean()) if (labels == c).any() else 0.0
               for c in classes]
    return float(np.mean(recalls))


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """mAP over classes with at least one positive (multi-label targets)."""
    aps = []
    for c in range(targets.shape[1]):
        positives = targets[:, c] > 0
        if not positives.any():
            continue
        order = np.argsort(-scores[:, c], kind="stable")
        hit = positives[order]
        precision_at_hit = np.cumsum(hit)[hit] / (np.flatnonzero(hit) + 1)
        aps.append(float(precision_at_hit.mean()))
    return float(np.mean(aps)) if aps else 0.0


@METRICS.register
class AccMetric:
    """MMAction2's AccMetric: keys ``acc/top1``, ``acc/top5``, ``acc/mean1`` (and ``mAP/mAP``)."""

    def __init__(self, metric_list: str | Sequence[str] = ("top_k_accuracy", "mean_class_accuracy"),
                 metric_options: dict | None = None, collect_device: str = "cpu",
                 prefix: str | None = None) -> None:
        self.metric_list = (metric_list,) if isinstance(metric_list, str) else tuple(metric_list)
        for name in self.metric_list:
            if name not in _KNOWN:
                raise ConfigError(f"AccMetric.metric_list: unknown metric {name!r}; known: {', '.join(_KNOWN)}")
        options = metric_options or {}
        self.topk = tuple(options.get("top_k_accuracy", {}).get("topk", (1, 5)))
        self.prefix = prefix  # accepted for compatibility; keys keep MMAction2's names

    def compute(self, scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
        """``scores`` (N, C) or per view (N, V, C); ``labels`` (N,) ints or (N, C) multi-hot."""
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim == 3:  # average_clips=None kept the views: rank their mean raw score
            scores = scores.mean(axis=1)
        labels = np.asarray(labels)
        if len(scores) == 0:
            return {}
        results: dict[str, float] = {}
        if labels.ndim == 2:  # multi-label: accuracy is undefined, use mAP
            results["mAP/mAP"] = mean_average_precision(scores, labels)
            return results
        if "top_k_accuracy" in self.metric_list:
            for k, acc in zip(self.topk, top_k_accuracy(scores, labels, self.topk)):
                results[f"acc/top{k}"] = acc
        if "mean_class_accuracy" in self.metric_list:
            results["acc/mean1"] = mean_class_accuracy(scores, labels)
        return results
