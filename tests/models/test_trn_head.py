"""TRNHead: relation types, its own segment grouping, and MMAction2's NumPy-drawn tuples."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kinetix.errors import ConfigError
from kinetix.models.trn_head import TRNHead


def test_unknown_relation_type_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^model.cls_head.relation_type: 'TRNX'"):
        TRNHead(num_classes=3, in_channels=8, relation_type="TRNX")


def test_frames_must_group_into_num_segments() -> None:
    head = TRNHead(num_classes=3, in_channels=8, num_segments=4, relation_type="TRN").eval()
    assert head(torch.randn(8, 8, 2, 2)).shape == (2, 3)
    with pytest.raises(ConfigError, match=r"^model.cls_head.num_segments: got 6 frame"):
        head(torch.randn(6, 8, 2, 2))


def test_multiscale_tuples_come_from_numpy_global_state() -> None:
    torch.manual_seed(0)
    head = TRNHead(num_classes=3, in_channels=8, num_segments=6, hidden_dim=4).eval()
    # scales 6..2; the full tuple plus at most 3 sampled tuples of each smaller size
    assert head.consensus.scales == [6, 5, 4, 3, 2]
    assert head.consensus.subsample_scales == [1, 3, 3, 3, 3]
    x = torch.randn(12, 8, 2, 2)
    with torch.no_grad():
        np.random.seed(1)
        a = head(x)
        np.random.seed(1)
        b = head(x)
        outs = set()
        for seed in range(5):
            np.random.seed(seed)
            outs.add(tuple(head(x)[0].tolist()))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert len(outs) > 1
