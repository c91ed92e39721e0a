#!/usr/bin/env bash
# torchrun launcher shared by dist_train.sh and dist_test.sh: dist_launch.sh SCRIPT NPROC_PER_NODE [script args]
#
# OpenMMLab's environment interface, run with torchrun's c10d rendezvous (docs/distributed_training.md):
#   NNODES       number of nodes, or MIN:MAX for an elastic job (default 1)
#   NODE_RANK    this node's rank; node 0 hosts the rendezvous store (default 0)
#   MASTER_ADDR  node 0's address (default 127.0.0.1), PORT its port (default 29500)
#   MAX_RESTARTS how often torchrun restarts the workers of all nodes after one fails (default 3; the
#                restarted workers resume from the newest checkpoint by themselves)
#   RDZV_ID      the job's rendezvous id (default: derived from --work-dir, else the config's name)
#   RDZV_CONF    more rendezvous settings, e.g. join_timeout=900,last_call_timeout=60 (torchrun's defaults:
#                600 s for all nodes to join, 30 s of waiting for more nodes once NNODES' minimum has joined)
#   PYTHON       the interpreter (default: the repository's .venv, else python on PATH)
set -euo pipefail
SCRIPT=$1
NPROC=$2
shift 2
VENV_PYTHON="$(dirname "$0")/../.venv/bin/python"
[ -x "$VENV_PYTHON" ] || VENV_PYTHON=python
NODE_RANK="${NODE_RANK:-0}"
if [ -z "${RDZV_ID:-}" ]; then
    KEY="$1"  # the config, unless a work dir is given
    ARGS=("$@")
    for ((i = 0; i < ${#ARGS[@]}; i++)); do
        case "${ARGS[$i]}" in
            --work-dir) KEY="${ARGS[$((i + 1))]:-$KEY}" ;;
            --work-dir=*) KEY="${ARGS[$i]#--work-dir=}" ;;
        esac
    done
    RDZV_ID="mambavision-$(printf '%s' "$KEY" | cksum | cut -d' ' -f1)"
fi
[ "$NODE_RANK" = 0 ] && IS_HOST=1 || IS_HOST=0
# Each round of workers gets a store of its own: with the agent's store shared across restarts, restarted
# workers can read the addresses of the previous round's dead workers and fail to connect
# (pytorch/pytorch#135712).
export TORCH_DISABLE_SHARE_RDZV_TCP_STORE="${TORCH_DISABLE_SHARE_RDZV_TCP_STORE:-1}"
exec "${PYTHON:-$VENV_PYTHON}" -m torch.distributed.run --nnodes="${NNODES:-1}" --nproc_per_node="$NPROC" \
    --rdzv_backend=c10d --rdzv_endpoint="${MASTER_ADDR:-127.0.0.1}:${PORT:-29500}" --rdzv_id="$RDZV_ID" \
    --rdzv_conf="is_host=$IS_HOST${RDZV_CONF:+,$RDZV_CONF}" --max_restarts="${MAX_RESTARTS:-3}" \
    "$(dirname "$0")/$SCRIPT" "$@" --launcher pytorch
