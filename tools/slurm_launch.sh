#!/usr/bin/env bash
# srun launcher shared by slurm_train.sh and slurm_reproduce.sh, one task per GPU:
#   slurm_launch.sh PARTITION JOB_NAME SCRIPT [script args]     (runs python -u tools/SCRIPT [script args])
#
#   GPUS           number of GPUs, i.e. of tasks (default 8)
#   GPUS_PER_NODE  GPUs per node (default: GPUS if fewer than 8, else 8)
#   CPUS_PER_TASK  CPU cores per task, for data loading (default 5)
#   SRUN_ARGS      more srun options (e.g. --time=24:00:00 --qos=...)
#   PYTHON         the interpreter (default: python on PATH)
set -uo pipefail
PARTITION=$1
JOB_NAME=$2
SCRIPT=$3
shift 3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$((GPUS < 8 ? GPUS : 8))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}

# shellcheck disable=SC2086  # SRUN_ARGS holds several options
exec srun --partition="$PARTITION" --job-name="$JOB_NAME" --gres="gpu:$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$(dirname "$0")/$SCRIPT" "$@"
