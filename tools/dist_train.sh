#!/usr/bin/env bash
# Train with one process per GPU on this machine, or on several machines, through torchrun.
#   bash tools/dist_train.sh CONFIG GPUS [train.py options]
# GPUS is the number of processes on this machine (on a CPU-only machine: CPU processes over gloo).
# Environment: NNODES=1 NODE_RANK=0 PORT=29500 MASTER_ADDR=127.0.0.1 (set them on each machine).
set -euo pipefail
USAGE="usage: [NNODES=1 NODE_RANK=0 PORT=29500 MASTER_ADDR=127.0.0.1] bash tools/dist_train.sh CONFIG GPUS [train.py options]"
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

need_args 2 "$@"
CONFIG=$1
GPUS=$2
shift 2
need_file CONFIG "$CONFIG"
need_positive_int GPUS "$GPUS"
torchrun_settings

run_printed env PYTHONPATH="$KINETIX_PYTHONPATH" "$PYTHON" -m kinetix.launch \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" --master_port="$PORT" \
    --nproc_per_node="$GPUS" "$KINETIX_ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
