#!/usr/bin/env bash
# The published tables on a Slurm cluster, one srun task per GPU (docs/reproduction.md):
#   tools/slurm_reproduce.sh PARTITION JOB_NAME WORK_DIR [reproduce.py options]
#
#   GPUS           number of GPUs, i.e. of tasks (default 8)
#   GPUS_PER_NODE  GPUs per node (default: GPUS if fewer than 8, else 8)
#   CPUS_PER_TASK  CPU cores per task, for data loading (default 5)
#   SRUN_ARGS      more srun options (e.g. --time=4:00:00 --qos=...)
#   PYTHON         the interpreter (default: python on PATH)
#
# A job stopped before the end (preempted, out of time) loses at most the model in progress: the same command
# again keeps every finished model of WORK_DIR/reproduction.json.
set -uo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 PARTITION JOB_NAME WORK_DIR [reproduce.py options]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
WORK_DIR=$3
shift 3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$((GPUS < 8 ? GPUS : 8))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}

# shellcheck disable=SC2086  # SRUN_ARGS holds several options
exec srun --partition="$PARTITION" --job-name="$JOB_NAME" --gres="gpu:$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$(dirname "$0")/reproduce.py" --work-dir="$WORK_DIR" --launcher=slurm "$@"
