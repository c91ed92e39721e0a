#!/usr/bin/env bash
# Distributed training: tools/dist_train.sh CONFIG GPUS [train.py options] (see dist_launch.sh for multi-node)
set -euo pipefail
CONFIG=$1
GPUS=$2
shift 2
exec "$(dirname "$0")/dist_launch.sh" train.py "$GPUS" "$CONFIG" "$@"
