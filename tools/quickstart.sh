#!/usr/bin/env bash
# The main job on the built-in synthetic dataset, on the CPU:
# generate the data, train a small TSM, test it, print its top-1 accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${CONFIG:-configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py}
WORK_DIR=${WORK_DIR:-work_dirs/quickstart_$(basename "$CONFIG" .py)}
export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES--1}

python tools/data/generate_synthetic.py --out data/synthetic --seed 0
python tools/train.py "$CONFIG" --work-dir "$WORK_DIR" --seed 0
python tools/test.py "$CONFIG" "$(cat "$WORK_DIR/last_checkpoint")" --work-dir "$WORK_DIR"
python - "$WORK_DIR/test_metrics.json" "$CONFIG" <<'PY'
import json, sys
metrics = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]}: top-1 {metrics['acc/top1']:.4f} on the synthetic test split "
      f"({metrics['num_samples']} videos)")
PY
