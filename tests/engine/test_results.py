"""``--dump`` records keep MMAction2's shapes, also for per-view scores (average_clips=None)."""

import numpy as np
import pytest
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


def test_json_dump_is_valid_json_with_null_for_skipped_scores(tmp_path):
    import json
    import pickle

    from kinetix.engine.results import encode, load_dump, records_to_arrays
    preds = Predictions(indices=np.array([0, 2]), scores=np.array([[0.2, 0.8], [0.6, 0.4]], np.float32),
                        labels=np.array([1, 1]), filenames=["a.mp4", "c.mp4"],
                        skips=[Skip(1, "b.mp4", "undecodable", 0)])
    records = _dump_records(preds)
    text = encode(records, tmp_path / "p.json").decode()
    loaded = json.loads(text)  # strict JSON: no NaN
    assert loaded[1]["pred_score"] == [None, None] and loaded[1]["skipped"] is True
    assert loaded[0]["pred_score"] == [pytest.approx(0.2), pytest.approx(0.8)] and loaded[0]["pred_label"] == [1]
    (tmp_path / "p.json").write_text(text)
    (tmp_path / "p.pkl").write_bytes(encode(records, tmp_path / "p.pkl"))
    from_json, from_pkl = (records_to_arrays(load_dump(tmp_path / f"p.{ext}"), "x") for ext in ("json", "pkl"))
    for a, b in zip(from_json, from_pkl):
        assert np.array_equal(a, b)  # float32 survives JSON exactly
    assert from_pkl[2].tolist() == [0, 2]  # the skipped sample is left out, as in test.py
    assert isinstance(pickle.loads((tmp_path / "p.pkl").read_bytes()), list)


@pytest.mark.parametrize("content, says", [
    (b"garbage", "not a readable pickle"),
    (None, "holds a posix.system"),
    (b"\x80\x04]\x94.", "expected a non-empty list of dicts"),
])
def test_bad_dumps_are_one_line_errors(tmp_path, content, says):
    import os
    import pickle

    from kinetix.engine.results import load_dump
    from kinetix.errors import DataError

    class Evil:
        def __reduce__(self):
            return os.system, ("echo should not run",)
    path = tmp_path / "bad.pkl"
    path.write_bytes(content if content is not None else pickle.dumps([Evil()]))
    with pytest.raises(DataError, match=says):
        load_dump(path)
    with pytest.raises(DataError, match="no such file"):
        load_dump(tmp_path / "missing.pkl")
