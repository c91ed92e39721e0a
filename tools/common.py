"""Glue shared by tools/train.py and tools/test.py (detection and segmentation alike)."""
import json
import os
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config, ConfigDict, DictAction
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS
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


class PlainCheckpointHook(Hook):
    """Store the message hub as plain data, so that the checkpoints load with ``weights_only=True``.

    mmengine pickles HistoryBuffer objects and numpy scalars into every checkpoint; this hook writes
    them as dicts, lists and floats and turns them back when a checkpoint is loaded (resume).
    """

    priority = 'VERY_LOW'
    _TAG = '__history_buffer__'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        hub = checkpoint.get('message_hub')
        if hub:
            hub['log_scalars'] = {k: {self._TAG: True, 'max_length': v.max_length,
                                      'log': v._log_history.tolist(), 'count': v._count_history.tolist()}
                                  for k, v in hub['log_scalars'].items()}
            hub['runtime_info'] = {k: v.item() if isinstance(v, np.generic) else v
                                   for k, v in hub['runtime_info'].items()}

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        scalars = checkpoint.get('message_hub', {}).get('log_scalars', {})
        for key, value in scalars.items():
            if isinstance(value, dict) and value.get(self._TAG):
                scalars[key] = HistoryBuffer(value['log'], value['count'], value['max_length'])


@MODEL_WRAPPERS.register_module(force=True)
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """MMDistributedDataParallel for CPU processes (gloo): the runner passes CUDA device ids, which DDP
    refuses for a module on the CPU."""

    def __init__(self, module, device_ids=None, **kwargs):
        super().__init__(module=module, device_ids=None, **kwargs)


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
    if cfg.get('launcher', 'none') != 'none':
        env_cfg = cfg.setdefault('env_cfg', ConfigDict())
        env_cfg.setdefault('dist_cfg', ConfigDict())['backend'] = 'gloo'
        unused = cfg.get('find_unused_parameters', False)
        wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(broadcast_buffers=False, find_unused_parameters=unused)
        wrapper['type'] = 'CPUDistributedDataParallel'
        cfg.model_wrapper_cfg = wrapper
        messages.append('no CUDA device: distributed processes run on the CPU with the gloo backend')
    return messages


def init_cpu_distributed(cfg: Config) -> None:
    """Start the gloo process group for a launched CPU run (mmengine's own start-up calls CUDA)."""
    import torch.distributed as dist
    if cfg.get('launcher', 'none') == 'pytorch' and not torch.cuda.is_available() and not dist.is_initialized():
        dist.init_process_group(backend='gloo')


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
    init_cpu_distributed(cfg)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            check_coco_dataset(cfg[key].dataset)
            check_seg_dataset(cfg[key].dataset)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.register_hook(PlainCheckpointHook())
    for message in messages:
        runner.logger.info(message)
    return runner


class DatasetError(ValueError):
    """A dataset that cannot be used as configured; the message names the file."""


def check_coco_dataset(dataset: dict) -> None:
    """Fail early, naming the file, on a COCO dataset whose annotations or images are unusable.

    mmdet would otherwise fail deep inside a data-loader worker (missing image) or silently drop
    annotations of categories that the metainfo does not list.
    """
    if dataset.get('type') != 'CocoDataset':
        return
    root = dataset.get('data_root') or ''
    ann_file = osp.join(root, dataset['ann_file'])
    if not osp.isfile(ann_file):
        raise DatasetError(f'annotation file {ann_file} does not exist')
    try:
        with open(ann_file) as f:
            coco = json.load(f)
        images, categories = coco['images'], coco['categories']
        category_names = {c['id']: c['name'] for c in categories}
        used = {category_names[a['category_id']] for a in coco.get('annotations', [])}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f'annotation file {ann_file} is not valid JSON: {exc}') from exc
    except (KeyError, TypeError) as exc:
        raise DatasetError(f'annotation file {ann_file} is not in COCO format (missing or bad {exc})') from exc
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is not None:
        unknown = sorted(used - set(classes))
        if unknown:
            raise DatasetError(f'{ann_file} has annotations of categories {unknown} that are not in the '
                               f"dataset's metainfo classes {tuple(classes)}")
    image_dir = osp.join(root, (dataset.get('data_prefix') or {}).get('img', ''))
    missing = [im['file_name'] for im in images if not osp.isfile(osp.join(image_dir, im['file_name']))]
    if missing:
        raise DatasetError(f'{len(missing)} image(s) listed in {ann_file} are missing from {image_dir}, e.g. '
                           f'{osp.join(image_dir, missing[0])}')


def _seg_num_classes(dataset: dict) -> int:
    classes = (dataset.get('metainfo') or {}).get('classes')
    if classes is None:
        from mmseg.registry import DATASETS
        classes = DATASETS.get(dataset['type']).METAINFO['classes']
    return len(classes)


def check_seg_dataset(dataset: dict) -> None:
    """For a segmentation dataset (images and maps in two folders): every image needs its annotation,
    and every loaded map is checked for labels outside the classes (a CheckSegLabels step is added
    to the pipeline after LoadAnnotations)."""
    prefix = dataset.get('data_prefix') or {}
    if 'seg_map_path' not in prefix or dataset.get('ann_file'):
        return
    root = dataset.get('data_root') or ''
    img_dir, ann_dir = osp.join(root, prefix.get('img_path', '')), osp.join(root, prefix['seg_map_path'])
    img_suffix, seg_suffix = dataset.get('img_suffix', '.jpg'), dataset.get('seg_map_suffix', '.png')
    if not osp.isdir(img_dir):
        raise DatasetError(f'image folder {img_dir} does not exist')
    images = sorted(f for f in os.listdir(img_dir) if f.endswith(img_suffix))
    missing = [f for f in images if not osp.isfile(osp.join(ann_dir, f[:-len(img_suffix)] + seg_suffix))]
    if missing:
        first = missing[0][:-len(img_suffix)] + seg_suffix
        raise DatasetError(f'{len(missing)} image(s) in {img_dir} have no annotation in {ann_dir}, e.g. '
                           f'{osp.join(img_dir, missing[0])} (expected {osp.join(ann_dir, first)})')
    pipeline = dataset.get('pipeline') or []
    loads = [i for i, t in enumerate(pipeline) if t.get('type') == 'LoadAnnotations']
    if loads and not any(t.get('type') == 'CheckSegLabels' for t in pipeline):
        pipeline.insert(loads[0] + 1, dict(type='CheckSegLabels', num_classes=_seg_num_classes(dataset)))
