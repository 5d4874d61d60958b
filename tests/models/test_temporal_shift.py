"""Temporal shift on a hand-made tensor, and the TSM segment checks."""

from __future__ import annotations

import pytest
import torch

from kinetix.errors import ConfigError
from kinetix.models.resnet_tsm import TemporalPool, TemporalShift, temporal_shift


def test_shift_moves_fold0_from_future_and_fold1_from_past() -> None:
    n, t, c = 2, 3, 4
    # value = 100*video + 10*frame + channel, so every element says where it came from
    x = torch.tensor([[[100 * v + 10 * f + ch for ch in range(c)] for f in range(t)]
                      for v in range(n)], dtype=torch.float32)
    x = x.view(n * t, c, 1, 1)
    out = temporal_shift(x, num_segments=t, shift_div=4).view(n, t, c)  # fold = 1 channel
    for v in range(n):
        for f in range(t):
            # channel 0: from frame f+1 (zero at the last frame)
            assert out[v, f, 0] == (100 * v + 10 * (f + 1) if f + 1 < t else 0)
            # channel 1: from frame f-1 (zero at the first frame)
            assert out[v, f, 1] == (100 * v + 10 * (f - 1) + 1 if f > 0 else 0)
            # the rest stays
            assert out[v, f, 2] == 100 * v + 10 * f + 2
            assert out[v, f, 3] == 100 * v + 10 * f + 3


def test_shift_wrapper_runs_net_on_shifted_input_and_keeps_grad() -> None:
    conv = torch.nn.Conv2d(8, 8, 1, bias=False)
    shift = TemporalShift(conv, num_segments=4, shift_div=8)
    assert list(dict(shift.named_parameters())) == ["net.weight"]
    x = torch.randn(8, 8, 2, 2, requires_grad=True)
    shift(x).sum().backward()
    assert x.grad is not None
    # channel 0 of the last frame of each video gets nothing from its own input
    assert torch.all(x.grad.view(2, 4, 8, 2, 2)[:, 0, 0] == 0)


def test_segment_mismatch_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="num_segments=4"):
        temporal_shift(torch.zeros(6, 8, 1, 1), num_segments=4, shift_div=8)


def test_temporal_pool_halves_segments() -> None:
    pool = TemporalPool(torch.nn.Identity(), num_segments=4)
    x = torch.arange(8, dtype=torch.float32).view(8, 1, 1, 1)  # 2 videos x 4 frames
    assert pool(x).flatten().tolist() == [1, 3, 5, 7]
