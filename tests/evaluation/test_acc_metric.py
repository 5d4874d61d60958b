import numpy as np
import pytest

from kinetix.errors import ConfigError
from kinetix.evaluation import AccMetric


def test_top_k_and_mean_class_accuracy():
    scores = np.array([[0.9, 0.05, 0.05],   # label 0, top1 right
                       [0.6, 0.3, 0.1],     # label 1, top2 right
                       [0.1, 0.2, 0.7],     # label 2, top1 right
                       [0.5, 0.4, 0.1]])    # label 2, only top3
    labels = np.array([0, 1, 2, 2])
    metric = AccMetric(metric_options=dict(top_k_accuracy=dict(topk=(1, 2, 5))))
    result = metric.compute(scores, labels)
    assert result["acc/top1"] == pytest.approx(2 / 4)
    assert result["acc/top2"] == pytest.approx(3 / 4)
    assert result["acc/top5"] == pytest.approx(1.0)
    # per-class recall: class 0 -> 1, class 1 -> 0, class 2 -> 1/2
    assert result["acc/mean1"] == pytest.approx((1 + 0 + 0.5) / 3)


def test_default_keys_match_mmaction2():
    result = AccMetric().compute(np.eye(6), np.arange(6))
    assert list(result) == ["acc/top1", "acc/top5", "acc/mean1"]
    assert result["acc/top1"] == 1.0


def test_multi_label_gives_map():
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6]])
    targets = np.array([[1, 0], [0, 1], [1, 1]])
    result = AccMetric().compute(scores, targets)
    # class 0 ranking: s0(+), s2(+), s1 -> AP 1; class 1: s1(+), s2(+), s0 -> AP 1
    assert result == {"mAP/mAP": pytest.approx(1.0)}


def test_unknown_metric_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown metric 'top1'"):
        AccMetric(metric_list=("top1",))


def test_mean_class_accuracy_counts_predicted_only_classes():
    # Labels are 0, 0, 1, 1; sample 3 is predicted as class 2, which is never a label.
    scores = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.1, 0.9, 0.0], [0.1, 0.2, 0.7]])
    labels = np.array([0, 0, 1, 1])
    # recalls: class 0 -> 1, class 1 -> 1/2, class 2 (predicted only) -> 0, as MMAction2 counts it
    assert AccMetric().compute(scores, labels)["acc/mean1"] == pytest.approx((1 + 0.5 + 0) / 3)


def test_per_view_scores_are_averaged():
    # average_clips=None gives (N, views, C): the metric ranks the views' mean score
    per_view = np.array([[[0.9, 0.1], [0.0, 0.4]], [[0.2, 0.3], [0.6, 0.1]]])
    labels = np.array([0, 0])
    # means: sample 0 -> (0.45, 0.25) right; sample 1 -> (0.4, 0.2) right
    assert AccMetric(metric_options=dict(top_k_accuracy=dict(topk=(1,)))).compute(
        per_view, labels)["acc/top1"] == 1.0
    assert AccMetric().compute(per_view[:, :1], labels)["acc/top1"] == 0.5
