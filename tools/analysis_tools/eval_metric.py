"""Evaluate saved predictions offline: python tools/analysis_tools/eval_metric.py CONFIG RESULT.pkl|RESULT.json

RESULT is a ``tools/test.py --dump`` file (MMAction2's pickle, or our JSON). The
metrics are the config's ``test_evaluator`` (``--cfg-options`` may change it),
computed by the same code as test.py over the same samples (skipped ones are
left out, as test.py leaves them out), so the numbers are the ones test.py
printed. ``--out`` writes them as JSON. Errors are one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

import kinetix.engine  # noqa: F401  (registers every type)
from kinetix.config import apply_cfg_options, load_config, parse_cfg_options
from kinetix.engine.inference import Predictions
from kinetix.engine.logs import format_line
from kinetix.engine.results import load_dump, records_to_arrays
from kinetix.engine.runner import build_metrics, compute_metrics
from kinetix.errors import ConfigError, KinetixError


def evaluate(config: str, result: str, cfg_options: Sequence[str] = ()) -> dict[str, float]:
    cfg = load_config(config)
    apply_cfg_options(cfg, parse_cfg_options(list(cfg_options)))
    if not cfg.get("test_evaluator"):
        raise ConfigError(f"{config}: test_evaluator: the config names no metric")
    metrics = build_metrics(cfg["test_evaluator"], "test_evaluator")
    scores, labels, indices = records_to_arrays(load_dump(result), result)
    num_classes = ((cfg.get("model") or {}).get("cls_head") or {}).get("num_classes")
    if isinstance(num_classes, int) and scores.shape[-1] != num_classes:
        raise ConfigError(f"{result}: the predictions have {scores.shape[-1]} classes but {config} has "
                          f"model.cls_head.num_classes={num_classes}")
    return compute_metrics(metrics, Predictions(indices=indices, scores=scores, labels=labels))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="the config the predictions were made with")
    parser.add_argument("result", help="a tools/test.py --dump file (.pkl, .pickle or .json)")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override config keys, e.g. 'test_evaluator.metric_list=(top_k_accuracy,)'")
    parser.add_argument("--out", help="also write the metrics to this JSON file")
    args = parser.parse_args(argv)
    try:
        results = evaluate(args.config, args.result, args.cfg_options)
    except KinetixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_line("Offline evaluation:", results))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
