"""Batch collation: stack uint8 inputs and labels, drop and list skipped samples."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from kinetix.errors import DataError


def collate(samples: Sequence[dict]) -> dict[str, Any]:
    """Turn ``PackActionInputs`` outputs into one batch.

    ``{'skipped': name, 'reason': why, 'index': i, 'label': l}`` entries
    (undecodable videos) are dropped; their names are listed under ``'skipped'``,
    with ``'skip_reasons'``, ``'skipped_indices'`` and ``'skipped_labels'`` (as the
    dataset lists them) in the same order, so that test dumps can list them too.
    A batch may end up empty, in which case ``inputs`` and ``labels`` are
    ``None`` and the caller skips it.

    A list among ``samples`` (the repeats of one video from RepeatAugDataset) is
    flattened into the batch in its order, as MMAction2's ``repeat_pseudo_collate`` does.
    """
    samples = [s for item in samples for s in (item if isinstance(item, list) else [item])]
    kept = [s for s in samples if "skipped" not in s]
    skipped = [s for s in samples if "skipped" in s]
    batch: dict[str, Any] = {
        "inputs": None,
        "labels": None,
        "indices": torch.tensor([int(s["index"]) for s in kept], dtype=torch.int64),
        "filenames": [str(s.get("filename", "")) for s in kept],
        "skipped": [str(s["skipped"]) for s in skipped],
        "skip_reasons": [str(s.get("reason", "")) for s in skipped],
        "skipped_indices": torch.tensor([int(s["index"]) for s in skipped], dtype=torch.int64),
        "skipped_labels": [s.get("label") for s in skipped],
    }
    if not kept:
        return batch
    shapes = {tuple(s["inputs"].shape) for s in kept}
    if len(shapes) > 1:
        # Usually a pipeline without a fixed-size crop/resize: say which files differ.
        first, other = kept[0], next(s for s in kept if tuple(s["inputs"].shape) != tuple(kept[0]["inputs"].shape))
        raise DataError(f"cannot batch samples of different shapes: {tuple(first['inputs'].shape)} "
                        f"({first.get('filename')}) vs {tuple(other['inputs'].shape)} ({other.get('filename')}); "
                        f"the pipeline must produce a fixed size")
    batch["inputs"] = stack_dense([s["inputs"] for s in kept])
    labels = [s["label"] for s in kept]
    batch["labels"] = torch.stack(labels) if labels[0].dim() > 0 else \
        torch.stack(labels).to(torch.int64)
    return batch


def stack_dense(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``torch.stack`` that copies in the tensors' own memory order.

    Samples arrive as transposed views of frame-major memory (``FormatShape``
    does not copy). Stacking them in memory order is a plain memcpy; the batch
    is then a view with the requested shape, and the model's preprocessor makes
    it contiguous in the same pass that converts it to float.
    """
    first = tensors[0]
    order = sorted(range(first.dim()), key=lambda d: (-first.stride(d), d))
    if not all(t.stride() == first.stride() for t in tensors) or \
            not first.permute(order).is_contiguous():
        return torch.stack(list(tensors))
    stacked = torch.stack([t.permute(order) for t in tensors])
    inverse = [order.index(d) + 1 for d in range(first.dim())]
    return stacked.permute(0, *inverse)
