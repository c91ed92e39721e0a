"""Whether a run starting in a work dir continues an earlier one: restarted by torchrun or Slurm, its workers
started again by a torchrun agent of the same run (the agent known by its process on /proc), or started again
after a preemption."""
import os
import os.path as osp
import socket
from typing import Optional

from mmengine.dist import all_gather_object, get_world_size, is_main_process

from .checkpoint_files import write_text_atomically

# Left in the work dir by a run stopped for preemption; a run started in that work dir resumes by itself.
PREEMPTION_MARKER = 'preempted'

# The torchrun agents that started the run of a work dir, one per line (see torchrun_agent).
AGENTS_FILE = 'torchrun_agents'


def torchrun_agent() -> Optional[str]:
    """The torchrun agent that started this process, as host:pid:start time, the same for every round of workers
    it starts; None outside torchrun."""
    if 'TORCHELASTIC_RUN_ID' not in os.environ:
        return None
    agent = os.getppid()
    try:
        with open(f'/proc/{agent}/stat') as f:
            started = f.read().rsplit(')', 1)[1].split()[19]  # field 22, after the name in parentheses
    except (OSError, IndexError):
        started = 'unknown'
    return f'{socket.gethostname()}:{agent}:{started}'


def restart_reason(work_dir: str) -> Optional[str]:
    """Why a run starting in ``work_dir`` continues an earlier one, or None for a fresh start."""
    for variable, who in (('TORCHELASTIC_RESTART_COUNT', 'torchrun'), ('SLURM_RESTART_COUNT', 'Slurm')):
        count = os.environ.get(variable, '0')
        if count.isdigit() and int(count) > 0:
            return f'restarted by {who} ({variable}={count})'
    agent, agents_file = torchrun_agent(), osp.join(work_dir, AGENTS_FILE)
    if agent is not None and osp.isfile(agents_file):
        with open(agents_file) as f:
            if agent in f.read().split():
                return 'restarted by torchrun (workers started again by an agent of this run)'
    if osp.isfile(osp.join(work_dir, PREEMPTION_MARKER)):
        return f'started again after a preemption ({osp.join(work_dir, PREEMPTION_MARKER)})'
    return None


def shared_restart_reason(work_dir: str) -> Optional[str]:
    """One reason to continue an earlier run for every rank, so that all decide alike: torchrun counts restarts
    per node, and a node whose workers were restarted because another node's failed may count 0. A restart that
    torchrun or Slurm counted is named before the other signs."""
    reasons = all_gather_object(restart_reason(work_dir))
    found = [(rank, reason) for rank, reason in enumerate(reasons) if reason is not None]
    if not found:
        return None
    rank, reason = min(found, key=lambda item: ('_RESTART_COUNT=' not in item[1], item[0]))
    return reason if get_world_size() == 1 else f'{reason} on rank {rank}'


def record_torchrun_agents(work_dir: str) -> None:
    """Write down the torchrun agents of this run, so that a round of workers they start later knows it continues
    this run."""
    agents = all_gather_object(torchrun_agent())
    if is_main_process() and agents[0] is not None:
        write_text_atomically(osp.join(work_dir, AGENTS_FILE), '\n'.join(sorted(set(agents))) + '\n')
