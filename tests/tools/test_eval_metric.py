"""tools/analysis_tools/eval_metric.py gives test.py's numbers from its --dump, pickle or JSON."""

import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import REPO, SMALL_TSM, TSM_TINY, tiny_set_options
from kinetix import cli

TOOL = REPO / "tools/analysis_tools/eval_metric.py"
spec = importlib.util.spec_from_file_location("eval_metric", TOOL)
eval_metric = importlib.util.module_from_spec(spec)
spec.loader.exec_module(eval_metric)


@pytest.fixture(scope="module")
def dumps(tiny_tsm_run, tiny_synthetic, tmp_path_factory):
    out = tmp_path_factory.mktemp("dumps")
    found = {}
    for ext in ("pkl", "json"):
        work = out / ext
        assert cli.test_main([str(TSM_TINY), str(tiny_tsm_run / "epoch_1.pth"), "--work-dir", str(work),
                              "--dump", str(out / f"preds.{ext}"), "--cfg-options", *SMALL_TSM,
                              *tiny_set_options(tiny_synthetic)]) == 0
        found[ext] = (out / f"preds.{ext}", json.loads((work / "test_metrics.json").read_text()))
    return found


@pytest.mark.parametrize("ext", ["pkl", "json"])
def test_offline_numbers_equal_test_py(dumps, ext, tmp_path, capsys):
    dump, metrics = dumps[ext]
    out = tmp_path / "metrics.json"
    assert eval_metric.main([str(TSM_TINY), str(dump), "--out", str(out)]) == 0
    offline = json.loads(out.read_text())
    assert offline and offline == {k: metrics[k] for k in offline}  # exactly, not approximately
    assert f"acc/top1: {metrics['acc/top1']:.4f}" in capsys.readouterr().out


def test_json_dump_is_the_pickle_in_json(dumps):
    import pickle
    records = pickle.loads(dumps["pkl"][0].read_bytes())
    as_json = json.loads(dumps["json"][0].read_text())
    assert len(records) == len(as_json) == 16
    assert [r["pred_score"].tolist() for r in records] == [r["pred_score"] for r in as_json]
    assert [int(r["gt_label"]) for r in records] == [r["gt_label"] for r in as_json]


@pytest.mark.parametrize("make, says", [
    (lambda d: d / "missing.pkl", "missing.pkl: no such file"),
    (lambda d: (d / "bad.pkl").write_bytes(b"not a pickle") and d / "bad.pkl", "not a readable pickle"),
    (lambda d: (d / "bad.json").write_text("{") and d / "bad.json", "not a readable JSON"),
])
def test_bad_input_is_one_line(make, says, tmp_path, capsys):
    assert eval_metric.main([str(TSM_TINY), str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert says in err and len(err.strip().splitlines()) == 1


def test_class_count_mismatch(dumps, capsys):
    k400 = REPO / "configs/recognition/tsm/tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py"
    assert eval_metric.main([str(k400), str(dumps["json"][0])]) == 2
    assert "have 8 classes but" in capsys.readouterr().err


def test_help():
    done = subprocess.run([sys.executable, str(TOOL), "--help"], capture_output=True, text=True, cwd=REPO,
                          env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert done.returncode == 0 and "RESULT.pkl" in done.stdout
