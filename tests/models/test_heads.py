"""Heads, consensus, view averaging and losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import kinetix.models  # noqa: F401
from kinetix.errors import ConfigError
from kinetix.models import (AvgConsensus, BCELossWithLogits, CrossEntropyLoss, I3DHead, TSMHead,
                            TSNHead)
from kinetix.registry import MODELS, build


def test_avg_consensus_keeps_dim() -> None:
    x = torch.arange(12, dtype=torch.float32).view(2, 3, 2)
    out = AvgConsensus(dim=1)(x)
    assert out.shape == (2, 1, 2)
    torch.testing.assert_close(out[:, 0], x.mean(1))


def test_tsn_head_averages_segments_before_fc() -> None:
    head = TSNHead(num_classes=4, in_channels=6, dropout_ratio=0.0).eval()
    feats = torch.randn(2 * 3, 6, 5, 5)
    out = head(feats, num_segs=3)
    expected = head.fc_cls(feats.mean((2, 3)).view(2, 3, 6).mean(1))
    torch.testing.assert_close(out, expected)
    assert head.fc_cls.weight.std() < 0.05 and torch.all(head.fc_cls.bias == 0)


def test_tsm_head_groups_by_its_own_num_segments() -> None:
    head = TSMHead(num_classes=4, in_channels=6, num_segments=2).eval()
    out = head(torch.randn(2 * 3 * 2, 6, 3, 3), num_segs=6)  # 2 samples x 3 clips x 2 frames
    assert out.shape == (6, 4)
    assert head.predict(out, batch_size=2).shape == (2, 3, 4)  # average_clips=None keeps views
    head.average_clips = "score"
    assert head.predict(out, batch_size=2).shape == (2, 4)
    with pytest.raises(ConfigError, match="num_segments"):
        head(torch.randn(5, 6, 3, 3))


def test_i3d_head_and_tuple_features() -> None:
    head = I3DHead(num_classes=3, in_channels=4)
    assert head(torch.randn(2, 4, 2, 3, 3)).shape == (2, 3)
    with pytest.raises(ConfigError, match="out_indices"):
        head((torch.randn(2, 4, 2, 3, 3), torch.randn(2, 4, 1, 2, 2)))


def test_average_clips_prob_vs_score() -> None:
    scores = torch.tensor([[2.0, 0.0], [0.0, 4.0], [1.0, 1.0], [3.0, 3.0]])  # 2 samples x 2 views
    prob = TSNHead(2, 4, average_clips="prob").predict(scores, batch_size=2)
    score = TSNHead(2, 4, average_clips="score").predict(scores, batch_size=2)
    raw = TSNHead(2, 4, average_clips=None).predict(scores, batch_size=2)
    torch.testing.assert_close(prob, F.softmax(scores, 1).view(2, 2, 2).mean(1))
    torch.testing.assert_close(prob.sum(1), torch.ones(2))
    torch.testing.assert_close(score, torch.tensor([[1.0, 2.0], [2.0, 2.0]]))
    # None keeps every view's raw scores, (samples, views, classes), as MMAction2 does
    torch.testing.assert_close(raw, scores.view(2, 2, 2))
    with pytest.raises(ConfigError, match="average_clips"):
        TSNHead(2, 4, average_clips="max")


def test_loss_accuracy_and_repeated_views() -> None:
    head = TSNHead(num_classes=3, in_channels=4)
    scores = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 1.0], [0.0, 1.0, 5.0], [5.0, 0.0, 1.0]])
    out = head.loss(scores, torch.tensor([0, 1]))  # 2 samples x 2 views: labels repeated
    assert out["top1_acc"].item() == pytest.approx(0.25)  # argmax 0,1,2,0 vs 0,0,1,1
    assert out["top5_acc"].item() == 1.0  # k is capped at the number of classes
    torch.testing.assert_close(out["loss_cls"], F.cross_entropy(scores, torch.tensor([0, 0, 1, 1])))


def test_label_smoothing() -> None:
    head = TSNHead(num_classes=4, in_channels=2, label_smooth_eps=0.2)
    scores, labels = torch.randn(3, 4), torch.tensor([0, 3, 1])
    target = F.one_hot(labels, 4).float() * 0.8 + 0.05
    expected = -(target * F.log_softmax(scores, 1)).sum(1).mean()
    torch.testing.assert_close(head.loss(scores, labels)["loss_cls"], expected)


def test_cross_entropy_soft_targets_and_class_weight() -> None:
    scores, labels = torch.randn(4, 3), torch.tensor([0, 2, 1, 2])
    one_hot = F.one_hot(labels, 3).float()
    torch.testing.assert_close(CrossEntropyLoss()(scores, one_hot), F.cross_entropy(scores, labels))
    weight = [1.0, 0.5, 2.0]
    weighted = CrossEntropyLoss(class_weight=weight, loss_weight=2.0)
    expected = 2.0 * F.cross_entropy(scores, labels, weight=torch.tensor(weight))
    torch.testing.assert_close(weighted(scores, labels), expected)
    torch.testing.assert_close(weighted(scores, one_hot), expected)
    assert list(weighted.state_dict()) == []  # class_weight is not a checkpoint key


def test_bce_and_multi_class_head_built_from_config() -> None:
    head = build(dict(type="TSNHead", num_classes=3, in_channels=2, multi_class=True,
                      loss_cls=dict(type="BCELossWithLogits", loss_weight=0.5)),
                 MODELS, "model.cls_head")
    assert isinstance(head.loss_cls, BCELossWithLogits)
    scores, labels = torch.randn(2, 3), torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    out = head.loss(scores, labels)
    assert set(out) == {"loss_cls"}
    torch.testing.assert_close(out["loss_cls"],
                               0.5 * F.binary_cross_entropy_with_logits(scores, labels))
