"""``test.py --dump``: the predictions as a pickle (MMAction2's) or as JSON, and reading them back.

The pickle is a list of dicts, one per sample in dataset order, with MMAction2's
keys ``pred_score`` (float tensor), ``pred_label`` (tensor [1]) and ``gt_label``,
plus ours: ``index``, ``filename``, ``skipped`` and ``reason``. The JSON file
holds the same records with lists for tensors, and ``null`` where the pickle
has NaN (a skipped sample's scores): NaN is not JSON.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
from typing import Any

import numpy as np
import torch

from kinetix.engine.inference import Predictions
from kinetix.errors import DataError

DUMP_SUFFIXES = (".pkl", ".pickle", ".json")


def dump_records(preds: Predictions) -> list[dict[str, Any]]:
    """One record per sample, in dataset order.

    A skipped sample keeps its place, so ``records[i]['index'] == i``: its ``pred_score``
    is NaN (same shape as the others, so stacking the scores still works) and its
    ``pred_label`` is -1, a class no label has.
    """
    records: dict[int, dict[str, Any]] = {}
    for index, score, label, filename in zip(preds.indices, preds.scores, preds.labels, preds.filenames):
        score_t = torch.from_numpy(np.ascontiguousarray(score, dtype=np.float32))
        # argmax over classes: (1,), or (views, 1) per view with average_clips=None, as MMAction2
        records[int(index)] = {"pred_score": score_t, "pred_label": score_t.argmax(dim=-1, keepdim=True),
                               "gt_label": torch.as_tensor(label), "index": int(index), "filename": filename,
                               "skipped": False, "reason": ""}
    score_shape = tuple(preds.scores.shape[1:])
    for skip in preds.skips:
        records[skip.index] = {"pred_score": torch.full(score_shape, float("nan")),
                               "pred_label": torch.tensor([-1]),
                               "gt_label": torch.as_tensor(skip.label if skip.label is not None else -1),
                               "index": skip.index, "filename": skip.filename,
                               "skipped": True, "reason": skip.reason}
    return [records[i] for i in sorted(records)]


def _plain(value: Any) -> Any:
    """Tensors and arrays as (nested) lists; NaN and infinities as null."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def encode(records: list[dict[str, Any]], path: str | os.PathLike) -> bytes:
    if os.fspath(path).endswith(".json"):
        return json.dumps([_plain(r) for r in records], allow_nan=False).encode()
    return pickle.dumps(records)


def load_dump(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of a ``--dump`` file (pickle or JSON), or one line saying what is wrong."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file")
    try:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                records = json.load(f)
        else:
            with open(path, "rb") as f:
                records = _DumpUnpickler(f).load()
    except (pickle.UnpicklingError, RuntimeError, json.JSONDecodeError, EOFError, UnicodeDecodeError, ValueError,
            AttributeError, ModuleNotFoundError, ImportError) as exc:
        kind = "JSON" if path.endswith(".json") else "pickle"
        raise DataError(f"{path}: not a readable {kind} of predictions ({type(exc).__name__}: {exc})") from None
    if not isinstance(records, list) or not records or not all(
            isinstance(r, dict) and "pred_score" in r and "gt_label" in r for r in records):
        raise DataError(f"{path}: expected a non-empty list of dicts with 'pred_score' and 'gt_label' "
                        f"(test.py --dump)")
    return records


def records_to_arrays(records: list[dict[str, Any]], where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(scores, labels, indices)`` of the predicted (not skipped) records, as test.py evaluates them."""
    kept = [(i, r) for i, r in enumerate(records) if not r.get("skipped", False)]
    if not kept:
        raise DataError(f"{where}: every sample is marked skipped; nothing to evaluate")
    try:
        scores = np.stack([np.asarray(_array(r["pred_score"]), dtype=np.float32) for _, r in kept])
        labels = np.stack([np.asarray(_array(r["gt_label"])) for _, r in kept])
    except ValueError as exc:
        raise DataError(f"{where}: the records' pred_score or gt_label shapes differ ({exc})") from None
    if labels.ndim == 2 and labels.shape[1] == 1:  # MMAction2 keeps gt_label as a tensor [1]
        labels = labels[:, 0]
    labels = labels.astype(np.float32 if labels.ndim == 2 else np.int64)
    indices = np.array([r.get("index", i) for i, r in kept], dtype=np.int64)
    return scores, labels, indices


def _array(value: Any) -> Any:
    return value.numpy() if isinstance(value, torch.Tensor) else value


def _safe_load_from_bytes(data: bytes) -> Any:
    # torch pickles a tensor's storage as torch.save bytes; read them without running code.
    return torch.load(io.BytesIO(data), weights_only=True)


class _DumpUnpickler(pickle.Unpickler):
    """Unpickles tensors, arrays and plain containers only: a dump from elsewhere cannot run code."""

    ALLOWED = {("torch._utils", "_rebuild_tensor_v2"), ("collections", "OrderedDict"),
               ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("torch", "Size")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return _safe_load_from_bytes
        if (module, name) in self.ALLOWED or (module == "torch" and name.endswith("Storage")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it holds a {module}.{name}, which a predictions dump does not")
