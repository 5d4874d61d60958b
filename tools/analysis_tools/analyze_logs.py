"""Curves and training time from the logs of one or several runs.

    python tools/analysis_tools/analyze_logs.py plot_curve RUN... --keys loss acc/top1 --out curves.png
    python tools/analysis_tools/analyze_logs.py cal_train_time RUN...

RUN is a run's ``vis_data/scalars.json`` (kinetix's or MMAction2 1.x's), an
MMAction2 0.x ``*.log.json``, a kinetix/MMAction2 text log (``*.log``), or a
folder: every ``*/vis_data/scalars.json`` under it, oldest run first (a resumed
run continues its curve). Training values are plotted at every logged
interval, validation metrics at the end of the epoch (or iteration) they were
computed for.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kinetix.utils.progress import progress_bar

# "Epoch(train) [1][20/100]  lr: ...", also MMAction2's "Epoch(train)  [1][ 20/100]  lr: ..."
_TEXT_LINE = re.compile(r"(Epoch|Iter)\((train|val)\)\s+\[\s*(\d+)\s*\](?:\[\s*(\d+)\s*/\s*(\d+)\s*\])?\s+(.*)$")
_TEXT_VALUE = re.compile(r"([\w/.\-]+): (\S+)")


class LogError(Exception):
    """A log file that cannot be read; printed as one line."""


@dataclass
class Run:
    label: str
    train: list[dict] = field(default_factory=list)  # each: epoch, iter (global), values...
    val: list[dict] = field(default_factory=list)    # each: epoch (or None), iter (global), values...
    iters_per_epoch: int | None = None

    def keys(self) -> list[str]:
        found = {k for row in (*self.train, *self.val) for k in row if k not in ("epoch", "iter", "inner")}
        return sorted(found)

    def series(self, key: str, xaxis: str) -> tuple[str, np.ndarray, np.ndarray]:
        """('train'|'val', x, y) of ``key``: training rows when it is logged in training."""
        for mode, rows in (("train", self.train), ("val", self.val)):
            rows = [r for r in rows if key in r]
            if rows:
                x = np.array([self._x(r, mode, xaxis) for r in rows], dtype=float)
                return mode, x, np.array([float(r[key]) for r in rows])
        raise LogError(f"{self.label}: no key {key!r} in this log (it has: {', '.join(self.keys())})")

    def _x(self, row: dict, mode: str, xaxis: str) -> float:
        if xaxis == "iter":
            return row["iter"]
        if mode == "val" or not self.iters_per_epoch:
            return row["epoch"] if row.get("epoch") is not None else row["iter"] / (self.iters_per_epoch or 1)
        return row["iter"] / self.iters_per_epoch  # fractional epochs


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_rows(path: Path) -> list[dict]:
    """The JSON objects of a JSON-lines file, or the values of a text log's Epoch/Iter lines."""
    text = path.read_text(errors="replace")
    rows: list[dict] = []
    if path.suffix == ".json":
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise LogError(f"{path} line {n}: not JSON ({exc.msg})") from None
        return rows
    for line in text.splitlines():
        match = _TEXT_LINE.search(line)
        if not match:
            continue
        unit, mode, count, inner, total, rest = match.groups()
        values = {k: v for k, raw in _TEXT_VALUE.findall(rest) if (v := _number(raw)) is not None}
        row = {"mode": mode, "text_unit": unit, "count": int(count), **values}
        if inner is not None:
            row["inner"], row["total"] = int(inner), int(total)
        rows.append(row)
    if not rows:
        raise LogError(f"{path}: no Epoch(train)/Epoch(val) lines; give a vis_data/scalars.json, "
                       f"a .log.json or a training .log")
    return rows


def load_run(path: Path, label: str) -> Run:
    if path.is_dir():
        files = sorted(path.glob("**/vis_data/scalars.json"))
        if not files:
            raise LogError(f"{path}: a folder with no */vis_data/scalars.json in it")
    elif path.is_file():
        files = [path]
    else:
        raise LogError(f"{path}: no such file or folder")
    rows = [row for f in files for row in read_rows(f)]
    run = Run(label)
    if any("text_unit" in r for r in rows):
        _from_text(run, rows)
    elif any("mode" in r for r in rows):
        _from_log_json(run, rows)
    else:
        _from_scalars(run, rows)
    if not run.train and not run.val:
        raise LogError(f"{path}: no training or validation values in it")
    return run


def _from_scalars(run: Run, rows: list[dict]) -> None:
    """kinetix and mmengine scalars.json: training rows carry ``lr``; step is the global iteration.
    Validation rows: kinetix's carry ``epoch`` and step=iteration, mmengine's step=epoch."""
    by_epoch = any("epoch" in r for r in rows if "lr" in r)
    for r in rows:
        if "lr" in r and "iter" in r:
            if r.get("epoch", 1) > 1 and by_epoch and r["step"] != r["iter"]:
                run.iters_per_epoch = (r["step"] - r["iter"]) // (r["epoch"] - 1)
    last_iter_of_epoch: dict[int, int] = {}
    for r in rows:
        values = {k: v for k, v in r.items() if k not in ("epoch", "iter", "step") and isinstance(v, (int, float))}
        if "lr" in r:
            epoch = r.get("epoch")
            run.train.append({**values, "epoch": epoch, "iter": r["step"]})
            if epoch is not None:
                last_iter_of_epoch[epoch] = max(last_iter_of_epoch.get(epoch, 0), r["step"])
        elif "epoch" in r:  # kinetix
            run.val.append({**values, "epoch": r["epoch"], "iter": r["step"]})
        elif by_epoch:      # mmengine, epoch-based: step is the epoch
            end = run.iters_per_epoch * r["step"] if run.iters_per_epoch else last_iter_of_epoch.get(r["step"], 0)
            run.val.append({**values, "epoch": r["step"], "iter": end})
        else:
            run.val.append({**values, "epoch": None, "iter": r["step"]})
    if run.iters_per_epoch is None and last_iter_of_epoch:
        run.iters_per_epoch = max(last_iter_of_epoch.values())  # one epoch only: its last logged iteration


def _from_log_json(run: Run, rows: list[dict]) -> None:
    """MMAction2 0.x ``.log.json``: ``mode`` train/val, ``epoch``, ``iter`` within the epoch."""
    train = [r for r in rows if r.get("mode") == "train"]
    run.iters_per_epoch = max((r["iter"] for r in train), default=0) or None
    skip = ("mode", "epoch", "iter", "memory")
    for r in rows:
        values = {k: v for k, v in r.items() if k not in skip and isinstance(v, (int, float))}
        if r.get("mode") == "train":
            run.train.append({**values, "epoch": r["epoch"], "iter": (r["epoch"] - 1) * run.iters_per_epoch + r["iter"]})
        elif r.get("mode") == "val":
            run.val.append({**values, "epoch": r["epoch"], "iter": r["epoch"] * (run.iters_per_epoch or 1)})


def _from_text(run: Run, rows: list[dict]) -> None:
    for r in rows:
        values = {k: v for k, v in r.items() if k not in ("mode", "text_unit", "count", "inner", "total", "eta")}
        if r["mode"] == "train" and r["text_unit"] == "Epoch":
            run.iters_per_epoch = r["total"]
            run.train.append({**values, "epoch": r["count"], "iter": (r["count"] - 1) * r["total"] + r["inner"]})
        elif r["mode"] == "train":  # Iter(train) [i/n]: count is the global iteration
            run.train.append({**values, "epoch": None, "iter": r["count"]})
        elif r["text_unit"] == "Epoch":
            run.val.append({**values, "epoch": r["count"], "iter": r["count"] * (run.iters_per_epoch or 1)})
        else:
            run.val.append({**values, "epoch": None, "iter": r["count"]})


def labels_for(paths: list[Path], legend: list[str] | None) -> list[str]:
    if legend is not None:
        if len(legend) != len(paths):
            raise LogError(f"--legend: {len(legend)} name(s) for {len(paths)} log(s)")
        return legend
    names = []
    for p in paths:
        if p.name == "scalars.json" and p.parent.name == "vis_data":
            names.append(f"{p.parents[2].name}/{p.parents[1].name}")  # work dir / run timestamp
        else:
            names.append(p.name[: -len(".log.json")] if p.name.endswith(".log.json") else p.stem if p.is_file() else p.name)
    return [n if names.count(n) == 1 else f"{n} ({i + 1})" for i, n in enumerate(names)]


def load_runs(paths: list[Path], legend: list[str] | None) -> list[Run]:
    labels = labels_for(paths, legend)
    bar = progress_bar(list(zip(paths, labels)), desc="read logs", unit="log", leave=False)
    return [load_run(p, label) for p, label in bar]


def plot_curve(args: argparse.Namespace) -> None:
    import matplotlib
    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    runs = load_runs(args.logs, args.legend)
    xaxis = args.xaxis or ("epoch" if all(r.iters_per_epoch for r in runs) else "iter")
    series = [[run.series(key, xaxis) for run in runs] for key in args.keys]  # fails before drawing
    colours = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(len(args.keys), 1, figsize=(9, 2.8 * len(args.keys) + 1.2), sharex=True, squeeze=False)
    for ax, key, per_run in zip(axes[:, 0], args.keys, series):
        for i, (run, (mode, x, y)) in enumerate(zip(runs, per_run)):
            style = dict(marker="o", markersize=4) if mode == "val" or len(x) < 30 else {}
            # Dashes as well as colours: runs with equal values (a shared lr schedule) stay visible.
            ax.plot(x, y, color=colours[i % len(colours)], linestyle=("-", "--", "-.", ":")[i % 4],
                    linewidth=1.8, label=run.label, **style)
        ax.set_ylabel(key + (" (val)" if per_run[0][0] == "val" else ""), fontsize=11)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=10)
    axes[-1, 0].set_xlabel("epoch" if xaxis == "epoch" else "iteration", fontsize=11)
    fig.tight_layout()
    handles, names = axes[0, 0].get_legend_handles_labels()
    # One legend for all panels, above them (with the title): it never covers a curve.
    fig.legend(handles, names, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(runs), 3),
               fontsize=10, frameon=False, title=args.title, title_fontsize=13)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {args.out} ({len(args.keys)} key(s), {len(runs)} run(s), x axis: {xaxis})")
    if args.out_csv:
        with open(args.out_csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["run", "key", "mode", xaxis, "value"])
            for key, per_run in zip(args.keys, series):
                for run, (mode, x, y) in zip(runs, per_run):
                    writer.writerows([run.label, key, mode, f"{a:g}", f"{b:.6g}"] for a, b in zip(x, y))
        print(f"wrote {args.out_csv}")


def cal_train_time(args: argparse.Namespace) -> None:
    for run in load_runs(args.logs, None):
        per_epoch: dict[int, list[float]] = {}
        for row in run.train:
            if "time" in row:
                per_epoch.setdefault(row.get("epoch") or 1, []).append(row["time"])
        if not per_epoch:
            raise LogError(f"{run.label}: no 'time' values in training rows")
        if not args.include_outliers:
            # The first interval of an epoch carries the data loader's start-up.
            per_epoch = {e: t[1:] if len(t) > 1 else t for e, t in per_epoch.items()}
        epochs = sorted(per_epoch)
        means = np.array([np.mean(per_epoch[e]) for e in epochs])
        print(f"----- train time of {run.label} -----")
        print(f"slowest epoch {epochs[int(means.argmax())]}, average time {means.max():.4f} s/iter")
        print(f"fastest epoch {epochs[int(means.argmin())]}, average time {means.min():.4f} s/iter")
        print(f"time std over epochs: {means.std():.4f}")
        print(f"average iter time: {np.mean([t for e in epochs for t in per_epoch[e]]):.4f} s/iter")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="analyze_logs.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="task", required=True)
    plot = sub.add_parser("plot_curve", help="draw the curves of KEYS for one or several runs")
    plot.add_argument("logs", nargs="+", type=Path, metavar="LOG_OR_SCALARS")
    plot.add_argument("--keys", nargs="+", default=["loss"], help="values to plot, one panel each (default: loss)")
    plot.add_argument("--out", type=Path, default=Path("curves.png"), help="PNG to write (default: curves.png)")
    plot.add_argument("--out-csv", type=Path, help="also write the plotted points as CSV")
    plot.add_argument("--legend", nargs="+", help="a name per log (default: from the paths)")
    plot.add_argument("--title", help="a title above the panels")
    plot.add_argument("--xaxis", choices=("iter", "epoch"), help="x axis (default: epoch when known)")
    time_parser = sub.add_parser("cal_train_time", help="seconds per iteration, per epoch and overall")
    time_parser.add_argument("logs", nargs="+", type=Path, metavar="LOG_OR_SCALARS")
    time_parser.add_argument("--include-outliers", action="store_true",
                             help="keep each epoch's first logged interval (start-up) in the averages")
    args = parser.parse_args(argv)
    try:
        {"plot_curve": plot_curve, "cal_train_time": cal_train_time}[args.task](args)
    except (LogError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
