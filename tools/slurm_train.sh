#!/usr/bin/env bash
# Train on a Slurm cluster: srun starts one task per GPU and kinetix reads Slurm's variables.
#   [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS=""] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py options]
# GPUS: tasks in all; GPUS_PER_NODE: tasks and GPUs per node; CPUS_PER_TASK: cores per task
# (DataLoader workers); SRUN_ARGS: more srun options, e.g. "--quotatype=auto" or "--time=2-00:00:00".
set -euo pipefail
USAGE="usage: [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS=] bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py options]"
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

need_args 3 "$@"
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
shift 3
need_file CONFIG "$CONFIG"
slurm_settings

# SRUN_ARGS is split into words on purpose.
# shellcheck disable=SC2086
run_printed env MASTER_PORT="$MASTER_PORT" PYTHONPATH="$KINETIX_PYTHONPATH" \
    srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
    "$PYTHON" -u "$KINETIX_ROOT/tools/train.py" "$CONFIG" --launcher=slurm "$@"
