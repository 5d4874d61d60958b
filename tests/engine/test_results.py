"""``--dump`` records keep MMAction2's shapes, also for per-view scores (average_clips=None)."""

import numpy as np
import torch

from kinetix.engine.inference import Predictions, Skip
from kinetix.engine.results import dump_records as _dump_records


def test_per_view_scores_get_one_label_per_view_and_skips_keep_the_shape():
    scores = np.array([[[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]]], dtype=np.float32)  # 1 sample, 2 views
    preds = Predictions(indices=np.array([0]), scores=scores, labels=np.array([1]), filenames=["a.mp4"],
                        skips=[Skip(1, "b.mp4", "undecodable", 2)])
    kept, skipped = _dump_records(preds)
    # MMAction2: pred_label = pred_score.argmax(dim=-1, keepdim=True) -> (views, 1)
    assert torch.equal(kept["pred_label"], torch.tensor([[1], [0]]))
    assert skipped["pred_score"].shape == (2, 3) and torch.isnan(skipped["pred_score"]).all()


def test_averaged_scores_keep_a_single_label():
    preds = Predictions(indices=np.array([0]), scores=np.array([[0.2, 0.7, 0.1]], dtype=np.float32),
                        labels=np.array([1]), filenames=["a.mp4"])
    (record,) = _dump_records(preds)
    assert torch.equal(record["pred_label"], torch.tensor([1]))
