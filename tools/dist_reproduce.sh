#!/usr/bin/env bash
# The published tables on several GPUs: tools/dist_reproduce.sh GPUS [reproduce.py options]
# (torchrun; NNODES, NODE_RANK, MASTER_ADDR and PORT for several nodes: see dist_launch.sh)
set -euo pipefail
GPUS=$1
shift
exec "$(dirname "$0")/dist_launch.sh" reproduce.py "$GPUS" "$@"
