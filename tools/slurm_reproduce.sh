#!/usr/bin/env bash
# The published tables on a Slurm cluster, one srun task per GPU (docs/reproduction.md):
#   tools/slurm_reproduce.sh PARTITION JOB_NAME WORK_DIR [reproduce.py options]
#
#   GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, PYTHON: see slurm_launch.sh
#
# A job stopped before the end (preempted, out of time) loses at most the model in progress: the same command
# again keeps every finished model of WORK_DIR/reproduction.json.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 PARTITION JOB_NAME WORK_DIR [reproduce.py options]" >&2
    exit 2
fi
exec "$(dirname "$0")/slurm_launch.sh" "$1" "$2" reproduce.py --work-dir="$3" --launcher=slurm "${@:4}"
