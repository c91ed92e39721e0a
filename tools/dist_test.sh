#!/usr/bin/env bash
# Distributed testing: tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options] (see dist_launch.sh)
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
MAX_RESTARTS="${MAX_RESTARTS:-0}" exec "$(dirname "$0")/dist_launch.sh" test.py "$GPUS" "$CONFIG" "$CHECKPOINT" "$@"
