"""tools/analysis_tools/confusion_matrix.py: heat map, CSV and most-confused pairs, from a dump or a checkpoint."""

import csv
import importlib.util
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, SMALL_TSM, TSM_TINY, tiny_set_options

TOOL = REPO / "tools/analysis_tools/confusion_matrix.py"
spec = importlib.util.spec_from_file_location("confusion_matrix", TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def _dump(path, scores, labels):
    records = [{"pred_score": torch.tensor(s, dtype=torch.float32), "pred_label": torch.tensor([int(np.argmax(s))]),
                "gt_label": torch.tensor(l)} for s, l in zip(scores, labels)]
    path.write_bytes(pickle.dumps(records))
    return path


def test_from_a_dump_with_a_label_file(tmp_path, capsys):
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("".join(f"class number {i}\n" for i in range(8)))
    # class 2 taken for 3 three times, class 5 for 6 once
    labels = [0, 1, 2, 2, 2, 3, 4, 5, 6, 7]
    preds = [0, 1, 3, 3, 3, 3, 4, 6, 6, 7]
    dump = _dump(tmp_path / "d.pkl", np.eye(8)[preds], labels)
    assert tool.main([str(TSM_TINY), str(dump), "--out-dir", str(tmp_path / "out"),
                      "--label-file", str(labels_file), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "class number 2 -> class number 3: 3 (100.0%)" in out and "class number 5 -> class number 6: 1" in out
    rows = list(csv.reader((tmp_path / "out/confusion_matrix.csv").open()))
    assert rows[0][1:] == [f"class number {i}" for i in range(8)]
    assert rows[3][1:] == ["0", "0", "0", "3", "0", "0", "0", "0"]
    image = Image.open(tmp_path / "out/confusion_matrix.png")
    assert image.width > 500 and image.height > 500


def test_from_a_checkpoint(tiny_tsm_run, tiny_synthetic, tmp_path, capsys):
    assert tool.main([str(TSM_TINY), str(tiny_tsm_run / "epoch_1.pth"), "--out-dir", str(tmp_path),
                      "--cfg-options", *SMALL_TSM, *tiny_set_options(tiny_synthetic)]) == 0
    rows = list(csv.reader((tmp_path / "confusion_matrix.csv").open()))
    assert rows[0][1] == "move_left"  # names from classes.txt beside the annotation file
    assert sum(int(v) for row in rows[1:] for v in row[1:]) == 16


@pytest.mark.parametrize("case, says", [
    ("missing", "no such file"),
    ("short_labels", "has 2 class names but the model predicts 8"),
    ("bad_label", "ground-truth label 9 is not one of the 8"),
    ("multi_label", "multi-label"),
])
def test_errors_are_one_line(case, says, tmp_path, capsys):
    dump = tmp_path / "d.pkl"
    extra = []
    if case == "short_labels":
        _dump(dump, np.eye(8)[[0, 1]], [0, 1])
        (tmp_path / "l.txt").write_text("a\nb\n")
        extra = ["--label-file", str(tmp_path / "l.txt")]
    elif case == "bad_label":
        _dump(dump, np.eye(8)[[0, 1]], [0, 9])
    elif case == "multi_label":
        _dump(dump, np.eye(8)[[0, 1]], np.eye(8)[[0, 1]])
    assert tool.main([str(TSM_TINY), str(dump), "--out-dir", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1


def test_help():
    done = subprocess.run([sys.executable, str(TOOL), "--help"], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert done.returncode == 0 and "heat map" in done.stdout
