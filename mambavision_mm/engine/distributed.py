"""Distributed runs: a timeout for collectives, and CPU processes (gloo) for launched jobs without CUDA."""
import datetime

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """MMDistributedDataParallel for CPU processes: the runner passes CUDA device ids, which DDP refuses
    for a module on the CPU."""

    def __init__(self, module, device_ids=None, **kwargs):
        super().__init__(module=module, device_ids=None, **kwargs)


# Seconds a collective waits for its peers before it fails: a lost node is an error within minutes, not after
# torch's default of 30 minutes. Long evaluations on rank 0 may need more: env_cfg.dist_cfg.timeout.
DEFAULT_COLLECTIVE_TIMEOUT = 300


def set_collective_timeout(cfg: Config) -> None:
    """Give the config's process group a collective timeout (``env_cfg.dist_cfg.timeout``, seconds) unless it
    has one."""
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    env_cfg.setdefault('dist_cfg', ConfigDict()).setdefault('timeout', DEFAULT_COLLECTIVE_TIMEOUT)


def _replace_sync_bn(node) -> int:
    """Turn every norm_cfg of type SyncBN below ``node`` into BN; returns how many were changed."""
    changed = 0
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
            changed += 1
        for value in node.values():
            changed += _replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            changed += _replace_sync_bn(value)
    return changed


def setup_cpu_distributed(cfg: Config) -> list:
    """For a launched run without CUDA: gloo, a CPU DDP wrapper and BN for SyncBN (which needs CUDA).

    mmengine's own distributed start-up selects a CUDA device first, so the gloo process group is started
    here, before the runner is built. Returns what was changed, one message each, for the runner's log.
    """
    if torch.cuda.is_available() or cfg.get('launcher', 'none') == 'none':
        return []
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    env_cfg.setdefault('dist_cfg', ConfigDict())['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        broadcast_buffers=False, find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['type'] = 'CPUDistributedDataParallel'
    cfg.model_wrapper_cfg = wrapper
    messages = ['no CUDA device: distributed processes run on the CPU with the gloo backend']
    if _replace_sync_bn(cfg.model):
        messages.append('no CUDA device: SyncBN layers are built as BN')
    if cfg.launcher == 'pytorch' and not dist.is_initialized():
        timeout = env_cfg.dist_cfg.get('timeout')
        dist.init_process_group(backend='gloo',
                                timeout=None if timeout is None else datetime.timedelta(seconds=timeout))
    return messages
