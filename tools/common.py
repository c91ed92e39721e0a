"""Glue shared by tools/train.py and tools/test.py (detection and segmentation alike)."""
import os.path as osp

import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.runner.checkpoint import CheckpointLoader

from mambavision_backbone.checkpoint import torch_load


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_local_checkpoint(filename, map_location=None):
    """mmengine's loader for local files, loading safely (weights_only) where the file allows it.

    mmengine 0.10.7 checkpoints pickle its message hub (HistoryBuffer, numpy values), which torch >= 2.6
    refuses with weights_only=True; such files are then fully unpickled and the log says so and why.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} does not exist')
    checkpoint = torch_load(filename)
    if map_location not in (None, 'cpu'):
        checkpoint = _to_device(checkpoint, map_location)
    return checkpoint


def _to_device(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return type(obj)((k, _to_device(v, device)) for k, v in obj.items())
    return obj


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


def adapt_to_machine(cfg: Config) -> list:
    """Without CUDA: SyncBN becomes BN, AMP is switched off and distributed runs use gloo.

    Returns what was changed, one message each, for the caller to log once the runner's logger exists.
    """
    if torch.cuda.is_available():
        return []
    messages = []
    if _replace_sync_bn(cfg.model):
        messages.append('no CUDA device: SyncBN layers are built as BN')
    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper is not None and optim_wrapper.get('type') == 'AmpOptimWrapper':
        optim_wrapper['type'] = 'OptimWrapper'
        for key in ('loss_scale', 'dtype'):
            optim_wrapper.pop(key, None)
        messages.append('no CUDA device: automatic mixed precision is switched off (OptimWrapper)')
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    env_cfg.setdefault('dist_cfg', ConfigDict())['backend'] = 'gloo'
    return messages


def load_config(path: str, cfg_options, launcher: str, work_dir) -> Config:
    """Read a config, apply --cfg-options, the launcher and the work dir as mmdet's tools do."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path} does not exist')
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def add_common_arguments(parser) -> None:
    parser.add_argument('--work-dir', help='the directory to save logs and checkpoints')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs (xxx=yyy format)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def build_runner(cfg: Config):
    """Adapt the config to this machine, build the runner and log what was adapted."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    messages = adapt_to_machine(cfg)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    for message in messages:
        runner.logger.info(message)
    return runner
