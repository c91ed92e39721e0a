#!/usr/bin/env bash
# Training on a Slurm cluster, one srun task per GPU (docs/distributed_training.md):
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
#
#   GPUS           number of GPUs, i.e. of tasks (default 8)
#   GPUS_PER_NODE  GPUs per node (default: GPUS if fewer than 8, else 8)
#   CPUS_PER_TASK  CPU cores per task, for data loading (default 5)
#   SIGNAL_AT      SIGUSR1 this many seconds before the time limit (default 180): every task finishes its
#                  iteration, the checkpoint of that iteration is written and the tasks exit with status 75
#   SRUN_ARGS      more srun options (e.g. --time=24:00:00 --qos=...)
#   PYTHON         the interpreter (default: python on PATH)
#
# A run stopped for preemption or its time limit (status 75) is requeued with `scontrol requeue` when this
# script runs inside a batch job (sbatch); a job Slurm requeues by itself sets SLURM_RESTART_COUNT. Either way
# the training started again resumes from the newest complete checkpoint of WORK_DIR without --resume.
set -uo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$((GPUS < 8 ? GPUS : 8))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
PREEMPTED_EXIT_CODE=75  # mambavision_mm.engine.hooks.PREEMPTED_EXIT_CODE

# shellcheck disable=SC2086  # SRUN_ARGS holds several options
srun --partition="$PARTITION" --job-name="$JOB_NAME" --gres="gpu:$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 \
    --signal="USR1@${SIGNAL_AT:-180}" ${SRUN_ARGS:-} \
    "${PYTHON:-python}" -u "$(dirname "$0")/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher=slurm "$@"
status=$?
if [ "$status" = "$PREEMPTED_EXIT_CODE" ]; then
    if [ "${SLURM_JOB_ID:-}" ] && [ "$(scontrol show job "$SLURM_JOB_ID" 2>/dev/null | grep -o 'BatchFlag=1')" ]; then
        echo "stopped for preemption or the time limit: requeueing job $SLURM_JOB_ID; it resumes from $WORK_DIR" >&2
        scontrol requeue "$SLURM_JOB_ID"
    else
        echo "stopped for preemption or the time limit: the same command again resumes from $WORK_DIR" >&2
    fi
fi
exit "$status"
