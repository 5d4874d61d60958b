#!/usr/bin/env bash
# The GPU issue's measurement, in one call on a lent GPU machine (no network there):
# kinetix's engine (benchmark.py) and MMAction2's own step (mmaction2_benchmark.py) on the
# same card, TSN R50 1x1x8 (batch 32) and I3D R50 32x2x1 (batch 8), synthetic uint8 input.
#
#   bash tools/dev/fetch_gpu_wheels.sh       # here, once: PyAV and MMAction2's wheels into .whl/
#   device run: command="bash tools/dev/gpu_benchmark.sh", carry=[".whl"], timeout_s=560
#
# Everything it prints goes to $OUT/gpu_bench.log, the figures to $OUT/gpu_bench.json.
# Runs are ordered by what matters most, each under its own timeout, so a slow compile
# costs one row and not the call.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/gpu-bench}
ITERS=${ITERS:-30}
mkdir -p "$OUT" "$OUT/json"
exec > >(tee "$OUT/gpu_bench.log") 2>&1

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
# MMAction2 1.2.0 on that image: its multimodal models fail against the installed
# transformers, and its DRN localizer needs compiled mmcv ops.
sed -i 's/^if WITH_MULTIMODAL:/if False:  # kinetix gpu_benchmark.sh/' /tmp/site/mmaction/models/multimodal/__init__.py
python3 - <<'PY'
import pathlib
p = pathlib.Path("/tmp/site/mmaction/models/localizers/__init__.py")
t = p.read_text()
if "try:\n    from .drn" not in t:
    p.write_text(t.replace("from .drn.drn import DRN\n", "try:\n    from .drn.drn import DRN\nexcept ImportError:\n    DRN = None\n"))
PY
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch, av, mmaction; print('torch', torch.__version__, 'av', av.__version__, 'mmaction', mmaction.__version__)"

M=/tmp/site/mmaction/.mim/configs/recognition
TSN=$M/tsn/tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py
I3D=$M/i3d/i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py
n=0
ours() {   # name config timeout args...
    local name=$1 cfg=$2 limit=$3; shift 3; n=$((n + 1))
    echo "== kinetix $name: $*"
    timeout "$limit" python3 tools/analysis_tools/benchmark.py "$cfg" --synthetic --iters "$ITERS" --warmup 5 \
        --json "$OUT/json/$n-kinetix-$name.json" "$@" 2>&1 | grep -v " - INFO - " || echo "(failed or timed out)"
}
theirs() {
    local name=$1 cfg=$2 limit=$3; shift 3; n=$((n + 1))
    echo "== MMAction2 $name: $*"
    timeout "$limit" python3 tools/dev/mmaction2_benchmark.py "$cfg" --iters "$ITERS" --warmup 5 \
        --json "$OUT/json/$n-mmaction2-$name.json" "$@" 2>&1 | grep -v Warning || echo "(failed or timed out)"
}
ours tsn-amp-compile "$TSN" 150 --mode train --amp --compile
theirs tsn-amp "$TSN" 60 --mode train --amp
ours i3d-amp-compile "$I3D" 180 --mode train --amp --compile
theirs i3d-amp "$I3D" 60 --mode train --amp
ours tsn-amp "$TSN" 60 --mode train --amp
ours i3d-amp "$I3D" 60 --mode train --amp
# CUDA graphs (torch.compile mode reduce-overhead): do they pay on top of compile?
ours tsn-amp-cudagraphs "$TSN" 150 --mode train --amp --compile-mode reduce-overhead
theirs tsn-fp32 "$TSN" 60 --mode train
ours tsn-fp32 "$TSN" 60 --mode train
theirs i3d-fp32 "$I3D" 60 --mode train
ours i3d-fp32 "$I3D" 60 --mode train
theirs tsn-test-amp "$TSN" 60 --mode test --amp --batch-size 8
ours tsn-test-amp "$TSN" 60 --mode test --amp --batch-size 8
theirs i3d-test-amp "$I3D" 60 --mode test --amp --batch-size 2
ours i3d-test-amp "$I3D" 60 --mode test --amp --batch-size 2

python3 - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("json/*.json"))}
(out / "gpu_bench.json").write_text(json.dumps(rows, indent=1))
print(f"{len(rows)} results in {out / 'gpu_bench.json'}")
PY
rm -rf "$OUT/json"
