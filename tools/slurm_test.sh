#!/usr/bin/env bash
# Test on a Slurm cluster: srun starts one task per GPU and kinetix reads Slurm's variables.
#   [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS=""] bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]
# GPUS: tasks in all; GPUS_PER_NODE: tasks and GPUs per node; CPUS_PER_TASK: cores per task
# (DataLoader workers); SRUN_ARGS: more srun options.
set -euo pipefail
USAGE="usage: [GPUS=8 GPUS_PER_NODE=8 CPUS_PER_TASK=5 SRUN_ARGS=] bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]"
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"

need_args 4 "$@"
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
need_file CONFIG "$CONFIG"
need_checkpoint "$CHECKPOINT"
slurm_settings

# SRUN_ARGS is split into words on purpose.
# shellcheck disable=SC2086
run_printed env MASTER_PORT="$MASTER_PORT" PYTHONPATH="$KINETIX_PYTHONPATH" \
    srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
    "$PYTHON" -u "$KINETIX_ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher=slurm "$@"
