#!/usr/bin/env bash
# Training on a Slurm cluster, one srun task per GPU (docs/distributed_training.md):
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]
#
#   GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, PYTHON: see slurm_launch.sh
#   SIGNAL_AT      SIGUSR1 this many seconds before the time limit (default 180): every task finishes its
#                  iteration, the checkpoint of that iteration is written and the tasks exit with status 75
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
PREEMPTED_EXIT_CODE=75  # mambavision_mm.engine.hooks.PREEMPTED_EXIT_CODE

SRUN_ARGS="--signal=USR1@${SIGNAL_AT:-180} ${SRUN_ARGS:-}" \
    "$(dirname "$0")/slurm_launch.sh" "$PARTITION" "$JOB_NAME" train.py "$CONFIG" --work-dir="$WORK_DIR" \
    --launcher=slurm "$@"
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
