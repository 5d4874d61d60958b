import csv
import io

import numpy as np
import pytest

from kinetix.evaluation.confusion import confusion_matrix, most_confused, to_csv


def test_matrix_rows_are_true_classes_and_views_are_averaged():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.0, 0.3, 0.7]])
    labels = np.array([0, 1, 2, 2])
    m = confusion_matrix(scores, labels)
    assert m.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    per_view = np.stack([scores, scores], axis=1)
    assert (confusion_matrix(per_view, labels) == m).all()
    with pytest.raises(ValueError, match="one label per sample"):
        confusion_matrix(scores, np.eye(4, 3))


def test_most_confused_pairs_and_csv():
    m = np.array([[5, 3, 0], [1, 4, 0], [0, 3, 1]])
    assert most_confused(m, 2) == [(2, 1, 3, 0.75), (0, 1, 3, 0.375)]
    rows = list(csv.reader(io.StringIO(to_csv(m, ["a", "b,c", "d"]))))
    assert rows[0] == ["true \\ predicted", "a", "b,c", "d"] and rows[2] == ["b,c", "1", "4", "0"]
