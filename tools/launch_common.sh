# Shared by dist_train.sh, dist_test.sh, slurm_train.sh and slurm_test.sh (sourced, not run).
# Checks arguments before anything is launched, so a typo costs a usage line, not a queued job.

KINETIX_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage_error() {  # usage_error MESSAGE: the problem, then the script's usage line, exit 2
    echo "error: $1" >&2
    echo "$USAGE" >&2
    exit 2
}

need_args() {  # need_args N "$@": at least N positional arguments
    local n=$1
    shift
    if [ "$#" -eq 0 ]; then
        echo "$USAGE" >&2
        exit 2
    fi
    [ "$#" -ge "$n" ] || usage_error "expected at least $n arguments, got $#"
}

need_positive_int() {  # need_positive_int NAME VALUE
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || usage_error "$1 must be a positive integer, got '$2'"
}

need_non_negative_int() {  # need_non_negative_int NAME VALUE
    [[ "$2" =~ ^[0-9]+$ ]] || usage_error "$1 must be a non-negative integer, got '$2'"
}

need_file() {  # need_file NAME PATH
    [ -f "$2" ] || usage_error "$1 not found: $2"
}

need_checkpoint() {  # a local file, or a URL that tools/test.py downloads
    case "$1" in
        http://* | https://*) ;;
        *) need_file CHECKPOINT "$1" ;;
    esac
}

torchrun_settings() {  # NNODES, NODE_RANK, PORT, MASTER_ADDR: defaults as MMAction2's scripts, checked
    NNODES=${NNODES:-1}
    NODE_RANK=${NODE_RANK:-0}
    PORT=${PORT:-29500}
    MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
    need_positive_int NNODES "$NNODES"
    need_non_negative_int NODE_RANK "$NODE_RANK"
    [ "$NODE_RANK" -lt "$NNODES" ] || usage_error "NODE_RANK ($NODE_RANK) must be below NNODES ($NNODES)"
    need_positive_int PORT "$PORT"
}

slurm_settings() {  # GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, MASTER_PORT
    GPUS=${GPUS:-8}
    GPUS_PER_NODE=${GPUS_PER_NODE:-8}
    CPUS_PER_TASK=${CPUS_PER_TASK:-5}
    SRUN_ARGS=${SRUN_ARGS:-}
    need_positive_int GPUS "$GPUS"
    need_positive_int GPUS_PER_NODE "$GPUS_PER_NODE"
    need_positive_int CPUS_PER_TASK "$CPUS_PER_TASK"
    # A port per job, so that two jobs sharing a node do not collide (as MMAction2 does).
    MASTER_PORT=${MASTER_PORT:-$((12000 + RANDOM % 20000))}
}

run_printed() {  # print the exact command, then run it in place of this shell
    printf '+'
    printf ' %q' "$@"
    printf '\n'
    exec "$@"
}

# The repository first on the path, so that a clone runs without being installed
# and a module in it can be named in custom_imports.
KINETIX_PYTHONPATH="$KINETIX_ROOT${PYTHONPATH:+:$PYTHONPATH}"
PYTHON=${PYTHON:-python}
