"""Confusion matrix: python tools/analysis_tools/confusion_matrix.py CONFIG RESULT.pkl|RESULT.json|CHECKPOINT.pth

From a ``tools/test.py --dump`` file, or from a checkpoint (the test set is
predicted first, as test.py does it). Writes into ``--out-dir``:
``confusion_matrix.png`` (a heat map of each true class's share predicted as
each class, with class names), ``confusion_matrix.csv`` (the counts), and
prints the most-confused pairs. Class names come from ``--label-file``, else
from the config (see ``kinetix.engine.labels``), else class indices.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

import kinetix.engine  # noqa: F401  (registers every type)
from kinetix.config import apply_cfg_options, load_config, parse_cfg_options
from kinetix.engine.labels import check_class_count, class_names, read_label_file
from kinetix.engine.results import load_dump, records_to_arrays
from kinetix.errors import ConfigError, DataError, KinetixError
from kinetix.evaluation.confusion import confusion_matrix, most_confused, to_csv

MAX_NAMED = 60  # beyond this many classes the axes show every n-th name only


def predictions(config: str, source: str, out_dir: Path, cfg_options: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    if source.endswith((".pth", ".pt", ".ckpt")) or source.startswith(("http://", "https://")):
        from kinetix.engine.runner import RunOptions, test
        dump = out_dir / "predictions.pkl"
        test(RunOptions(config=config, checkpoint=source, work_dir=str(out_dir / "work_dir"), dump=str(dump),
                        cfg_options=parse_cfg_options(list(cfg_options))))
        source = str(dump)
    scores, labels, _ = records_to_arrays(load_dump(source), source)
    if labels.ndim != 1:
        raise DataError(f"{source}: multi-label predictions (one-hot gt_label); a confusion matrix needs one "
                        f"label per sample")
    return scores, labels


def plot(matrix: np.ndarray, names: Sequence[str], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    k = len(matrix)
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)
    side = min(max(6.0, 0.45 * k + 3), 40.0)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    step = max(1, -(-k // MAX_NAMED))
    ticks = list(range(0, k, step))
    ax.set_xticks(ticks, [names[i] for i in ticks], rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, [names[i] for i in ticks])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if k <= 30:  # counts in the cells, white on dark cells so they stay readable
        for t in range(k):
            for p in range(k):
                if matrix[t, p]:
                    ax.text(p, t, str(matrix[t, p]), ha="center", va="center", fontsize=9,
                            color="white" if share[t, p] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="the config the predictions were (or are to be) made with")
    parser.add_argument("source", help="a tools/test.py --dump file (.pkl/.pickle/.json) or a checkpoint (.pth)")
    parser.add_argument("--out-dir", default=".", help="where the PNG and CSV go (default: here)")
    parser.add_argument("--label-file", help="class names, one per line (default: from the config)")
    parser.add_argument("--top", type=int, default=10, help="how many most-confused pairs to print")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    try:
        cfg = load_config(args.config)
        apply_cfg_options(cfg, parse_cfg_options(args.cfg_options))
        out_dir.mkdir(parents=True, exist_ok=True)
        scores, labels = predictions(args.config, args.source, out_dir, args.cfg_options)
        num_classes = scores.shape[-1]
        if labels.max() >= num_classes or labels.min() < 0:
            raise DataError(f"{args.source}: ground-truth label {int(labels.max())} is not one of the "
                            f"{num_classes} predicted classes")
        head = ((cfg.get("model") or {}).get("cls_head") or {}).get("num_classes")
        if isinstance(head, int) and head != num_classes:
            raise ConfigError(f"{args.source}: the predictions have {num_classes} classes but {args.config} has "
                              f"model.cls_head.num_classes={head}")
        names, where = (read_label_file(args.label_file, "--label-file"), args.label_file) if args.label_file \
            else class_names(cfg, "test")
        check_class_count(names, num_classes, where if names else "--label-file")
        names = list(names[:num_classes]) if names else [str(i) for i in range(num_classes)]
        matrix = confusion_matrix(scores, labels, num_classes)
    except KinetixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    plot(matrix, names, out_dir / "confusion_matrix.png",
         f"{Path(args.config).stem}\n{matrix.sum()} samples, top-1 accuracy {accuracy:.2%}")
    (out_dir / "confusion_matrix.csv").write_text(to_csv(matrix, names))
    print(f"Wrote {out_dir / 'confusion_matrix.png'} and {out_dir / 'confusion_matrix.csv'} "
          f"({len(names)} classes, {matrix.sum()} samples, top-1 accuracy {accuracy:.4f})")
    pairs = most_confused(matrix, args.top)
    print("Most confused pairs (true -> predicted: samples, share of the true class):" if pairs
          else "No confusions: every sample was predicted right.")
    for t, p, count, share in pairs:
        print(f"  {names[t]} -> {names[p]}: {count} ({share:.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
