"""Collation of samples that are transposed views of frame-major memory."""

import numpy as np
import torch

from kinetix.data.collate import collate, stack_dense
from kinetix.data.transforms import FormatShape, PackActionInputs


def _sample(seed: int, fmt: str) -> dict:
    rng = np.random.default_rng(seed)
    imgs = [rng.integers(0, 255, (12, 10, 3), dtype=np.uint8) for _ in range(8)]
    results = FormatShape(fmt)(dict(imgs=imgs, clip_len=4, label=seed))
    return PackActionInputs()(results)


def test_samples_are_views_and_the_batch_equals_a_plain_stack():
    for fmt, shape in (("NCHW", (8, 3, 12, 10)), ("NCTHW", (2, 3, 4, 12, 10))):
        samples = [_sample(i, fmt) for i in range(3)]
        assert samples[0]["inputs"].shape == shape
        assert not samples[0]["inputs"].is_contiguous()  # FormatShape did not copy
        batch = collate(samples)["inputs"]
        assert torch.equal(batch, torch.stack([s["inputs"].contiguous() for s in samples]))


def test_stack_dense_copies_in_memory_order_and_falls_back_on_mixed_layouts():
    base = torch.arange(2 * 3 * 4 * 5, dtype=torch.uint8).reshape(2, 3, 4, 5)
    views = [base.permute(0, 3, 1, 2), (base + 1).permute(0, 3, 1, 2)]
    stacked = stack_dense(views)
    assert torch.equal(stacked, torch.stack(views))
    # The memory of the batch is the frames' own order: channels last.
    assert stacked.permute(0, 1, 3, 4, 2).is_contiguous()
    mixed = [views[0], views[1].contiguous()]
    assert torch.equal(stack_dense(mixed), torch.stack(mixed))
