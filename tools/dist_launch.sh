#!/usr/bin/env bash
# torchrun launcher shared by dist_train.sh and dist_test.sh: dist_launch.sh SCRIPT NPROC [script args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node. Python: $PYTHON, else the
# repository's .venv, else python on PATH.
set -euo pipefail
SCRIPT=$1
NPROC=$2
shift 2
VENV_PYTHON="$(dirname "$0")/../.venv/bin/python"
[ -x "$VENV_PYTHON" ] || VENV_PYTHON=python
exec "${PYTHON:-$VENV_PYTHON}" -m torch.distributed.run --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" --nproc_per_node="$NPROC" \
    "$(dirname "$0")/$SCRIPT" "$@" --launcher pytorch
