"""tools/analysis_tools/analyze_logs.py: kinetix, MMAction2 1.x and 0.x logs read alike; PNG, CSV, errors."""

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kinetix.engine.logs import format_line

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools/analysis_tools/analyze_logs.py"
spec = importlib.util.spec_from_file_location("analyze_logs", TOOL)
analyze_logs = importlib.util.module_from_spec(spec)
sys.modules["analyze_logs"] = analyze_logs  # dataclasses look their module up
spec.loader.exec_module(analyze_logs)

# 2 epochs of 4 iterations, logged every 2; validation after each epoch.
LOSSES = [2.0, 1.8, 1.5, 1.2]
TIMES = [0.9, 0.5, 0.6, 0.4]
ACCS = [0.25, 0.5]


def kinetix_rows() -> list[dict]:
    rows = []
    for n, (loss, t) in enumerate(zip(LOSSES, TIMES)):
        epoch, inner = n // 2 + 1, (n % 2 + 1) * 2
        rows.append({"lr": 0.01, "eta": 5.0, "time": t, "data_time": 0.1, "loss": loss, "epoch": epoch,
                     "iter": inner, "step": (epoch - 1) * 4 + inner})
        if inner == 4:
            rows.append({"acc/top1": ACCS[epoch - 1], "epoch": epoch, "step": epoch * 4})
    return rows


def write_lines(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def kinetix_scalars(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "work/20260101_000000/vis_data/scalars.json", kinetix_rows())


def mmengine_scalars(tmp_path: Path) -> Path:
    # MMAction2 1.x: validation rows have no epoch, and step is the epoch.
    rows = [{k: v for k, v in r.items() if k != "eta"} if "lr" in r else {"acc/top1": r["acc/top1"], "step": r["epoch"]}
            for r in kinetix_rows()]
    return write_lines(tmp_path / "mm/20260101_000000/vis_data/scalars.json", rows)


def mmaction2_0x_log_json(tmp_path: Path) -> Path:
    rows = [{"env_info": "...", "seed": 0}]
    for r in kinetix_rows():
        if "lr" in r:
            rows.append({"mode": "train", "epoch": r["epoch"], "iter": r["iter"], "lr": 0.01, "time": r["time"],
                         "loss": r["loss"]})
        else:
            rows.append({"mode": "val", "epoch": r["epoch"], "iter": 1, "acc/top1": r["acc/top1"]})
    return write_lines(tmp_path / "old/20200101.log.json", rows)


def text_log(tmp_path: Path) -> Path:
    lines = []
    for r in kinetix_rows():
        values = {k: v for k, v in r.items() if k not in ("epoch", "iter", "step")}
        prefix = f"Epoch(train) [{r['epoch']}][{r['iter']}/4]" if "lr" in r else f"Epoch(val) [{r['epoch']}][1/1]"
        lines.append(f"2026/01/01 00:00:00 - kinetix - INFO - {format_line(prefix, values)}")
    path = tmp_path / "run.log"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("make", [kinetix_scalars, mmengine_scalars, mmaction2_0x_log_json, text_log])
def test_every_format_gives_the_same_points(make, tmp_path):
    run = analyze_logs.load_run(make(tmp_path), "run")
    assert run.iters_per_epoch == 4
    mode, x, y = run.series("loss", "iter")
    assert mode == "train" and x.tolist() == [2, 4, 6, 8] and y.tolist() == pytest.approx(LOSSES, abs=1e-4)
    assert run.series("loss", "epoch")[1].tolist() == [0.5, 1.0, 1.5, 2.0]
    mode, x, y = run.series("acc/top1", "epoch")
    assert mode == "val" and x.tolist() == [1, 2] and y.tolist() == pytest.approx(ACCS)
    assert run.series("acc/top1", "iter")[1].tolist() == [4, 8]


def test_plot_curve_writes_png_and_csv(tmp_path):
    logs = [kinetix_scalars(tmp_path), mmengine_scalars(tmp_path)]
    out, out_csv = tmp_path / "pics/curves.png", tmp_path / "curves.csv"
    assert analyze_logs.main(["plot_curve", *map(str, logs), "--keys", "loss", "acc/top1", "--out", str(out),
                              "--out-csv", str(out_csv), "--legend", "kinetix", "mmaction2", "--title", "t"]) == 0
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[0] > 400 and image.shape[1] > 600
    # Both runs' colours (tab10 blue and orange) are drawn.
    for colour in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(image.astype(int) - colour).sum(axis=2) < 30).sum() > 50
    with open(out_csv) as f:
        rows = list(csv.DictReader(f))
    assert [float(r["value"]) for r in rows if r["run"] == "mmaction2" and r["key"] == "loss"] == LOSSES
    assert {(r["run"], r["mode"]) for r in rows if r["key"] == "acc/top1"} == {("kinetix", "val"), ("mmaction2", "val")}


def test_a_work_dir_reads_every_run_in_it(tmp_path):
    first = write_lines(tmp_path / "work/20260101_000000/vis_data/scalars.json", kinetix_rows()[:3])
    write_lines(tmp_path / "work/20260102_000000/vis_data/scalars.json", kinetix_rows()[3:])  # resumed
    run = analyze_logs.load_run(first.parents[2], "work")
    assert run.series("loss", "iter")[2].tolist() == LOSSES


def test_cal_train_time(tmp_path, capsys):
    assert analyze_logs.main(["cal_train_time", str(kinetix_scalars(tmp_path)), "--include-outliers"]) == 0
    out = capsys.readouterr().out
    epoch_means = [np.mean(TIMES[:2]), np.mean(TIMES[2:])]
    assert f"slowest epoch 1, average time {max(epoch_means):.4f} s/iter" in out
    assert f"fastest epoch 2, average time {min(epoch_means):.4f} s/iter" in out
    assert f"average iter time: {np.mean(TIMES):.4f} s/iter" in out
    # Without --include-outliers each epoch's first interval (start-up) is left out.
    assert analyze_logs.main(["cal_train_time", str(kinetix_scalars(tmp_path))]) == 0
    assert f"average iter time: {np.mean(TIMES[1::2]):.4f} s/iter" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["plot_curve", "{tmp}/nope.json"], r"nope.json: no such file or folder"),
    (["plot_curve", "{log}", "--keys", "los"], r"no key 'los' in this log \(it has: .*loss"),
    (["plot_curve", "{log}", "--legend", "a", "b"], r"--legend: 2 name\(s\) for 1 log\(s\)"),
    (["plot_curve", "{tmp}/broken.json"], r"broken.json line 2: not JSON"),
    (["cal_train_time", "{tmp}/empty"], r"a folder with no \*/vis_data/scalars.json"),
])
def test_bad_input_is_one_line(args, message, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.json").write_text('{"lr": 1, "step": 1}\n{"lr": \n')
    log = kinetix_scalars(tmp_path)
    args = [a.format(tmp=tmp_path, log=log) for a in args]
    assert analyze_logs.main([*args, "--out", str(tmp_path / "x.png")] if args[0] == "plot_curve" else args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert __import__("re").search(message, err), err


def test_help():
    done = subprocess.run([sys.executable, str(TOOL), "plot_curve", "--help"], capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": ""}, timeout=60)
    assert done.returncode == 0 and "--keys" in done.stdout and "--out-csv" in done.stdout
