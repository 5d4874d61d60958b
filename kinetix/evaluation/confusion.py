"""Confusion matrix of single-label predictions, and the pairs of classes most often mixed up."""

from __future__ import annotations

import csv
import io
from typing import Sequence

import numpy as np


def confusion_matrix(scores: np.ndarray, labels: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """``(K, K)`` int64 counts: row = true class, column = predicted (top-1) class.

    Per-view scores ``(N, views, K)`` are averaged over the views first, as the
    metrics do.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 3:
        scores = scores.mean(axis=1)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError("a confusion matrix needs one label per sample (multi-label annotations have several)")
    k = num_classes or scores.shape[1]
    preds = scores.argmax(axis=1)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (labels.astype(np.int64), preds), 1)
    return matrix


def most_confused(matrix: np.ndarray, top: int = 10) -> list[tuple[int, int, int, float]]:
    """The largest off-diagonal cells, as ``(true, predicted, count, share of the true class)``,
    most samples first (ties: by share, then by class index)."""
    totals = matrix.sum(axis=1)
    cells = [(int(t), int(p), int(matrix[t, p]), float(matrix[t, p] / totals[t]))
             for t, p in zip(*np.nonzero(matrix)) if t != p]
    cells.sort(key=lambda c: (-c[2], -c[3], c[0], c[1]))
    return cells[:top]


def to_csv(matrix: np.ndarray, names: Sequence[str]) -> str:
    """The counts with a header row and column of class names (true classes down, predicted across)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["true \\ predicted", *names])
    writer.writerows([names[i], *row.tolist()] for i, row in enumerate(matrix))
    return out.getvalue()
