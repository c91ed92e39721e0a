"""Evaluating a published model as ``tools/test.py`` does and comparing its metrics with the published ones
(``tools/reproduce.py``): the metrics a zoo lists and where the evaluators put them, the data a config reads,
and the verdict."""
import os.path as osp
from typing import Dict, Optional, Tuple

from mmengine.config import Config

from .inputs import InputError
from .launcher import build_runner, load_config
from .models import inner_dataset

# A zoo metric (in percent, as the published tables give it) -> the evaluator's key and the factor to percent:
# mmdet's CocoMetric reports fractions, mmseg's IoUMetric percentages.
METRICS = {'box AP': ('coco/bbox_mAP', 100.0), 'mask AP': ('coco/segm_mAP', 100.0), 'mIoU': ('mIoU', 1.0)}
# A zoo dataset -> the name its data root goes by on the command line (--data-root coco=DIR).
DATASETS = {'COCO': 'coco', 'ADE20K': 'ade20k'}


class DataNotFoundError(InputError):
    """A dataset folder or file an evaluation needs is missing; the message names it and the option to set."""


def point_at_data(cfg: Config, data_root: str) -> None:
    """Read the test (and val) data from ``data_root``: the dataloaders' ``data_root`` and, where an evaluator's
    ``ann_file`` lies under the config's own data root (the COCO evaluator's), that file under the new one."""
    for split in ('test', 'val'):
        dataloader = cfg.get(f'{split}_dataloader')
        if not dataloader:
            continue
        dataset = inner_dataset(dataloader.dataset)
        old_root = dataset.get('data_root')
        dataset.data_root = data_root
        evaluators = cfg.get(f'{split}_evaluator')
        for evaluator in evaluators if isinstance(evaluators, list) else [evaluators] if evaluators else []:
            ann_file = evaluator.get('ann_file')
            if ann_file and old_root and ann_file.startswith(old_root):
                evaluator.ann_file = osp.join(data_root, osp.relpath(ann_file, old_root))


def missing_data(cfg: Config) -> Optional[str]:
    """The first file or folder the test dataset and evaluator read that does not exist, or None."""
    dataset = inner_dataset(cfg.test_dataloader.dataset)
    root = dataset.get('data_root') or ''
    paths = [osp.join(root, dataset.ann_file)] if dataset.get('ann_file') else []
    paths += [osp.join(root, prefix) for prefix in (dataset.get('data_prefix') or {}).values() if prefix]
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
    paths += [evaluator.ann_file for evaluator in evaluators if evaluator and evaluator.get('ann_file')]
    return next((path for path in paths if not osp.exists(path)), None)


def evaluation_config(config: str, checkpoint: str, work_dir: str, data_root: Optional[str] = None,
                      data_option: str = '--data-root', cfg_options: Optional[dict] = None,
                      launcher: str = 'none') -> Config:
    """The config ``tools/test.py CONFIG CHECKPOINT`` evaluates, its data read from ``data_root`` when given;
    DataNotFoundError naming what is missing and ``data_option``, the option that sets it."""
    cfg = load_config(config, cfg_options, launcher, work_dir)
    if data_root is not None:
        point_at_data(cfg, data_root)
    missing = missing_data(cfg)
    if missing:
        raise DataNotFoundError(f'dataset not found: expected {missing} (set its folder with {data_option})')
    cfg.load_from = checkpoint
    return cfg


def evaluate(cfg: Config) -> dict:
    """The metrics of the runner ``cfg`` builds, tested as ``tools/test.py`` tests (every rank gets them)."""
    return build_runner(cfg).test()


def zoo_metrics(evaluated: dict, listed) -> Dict[str, float]:
    """The metrics ``listed`` (zoo names, e.g. 'box AP') taken from an evaluation's ``evaluated`` dict, in
    percent; InputError naming a metric this toolbox cannot measure or that the evaluation did not produce."""
    measured = {}
    for metric in listed:
        if metric not in METRICS:
            raise InputError(f'the zoo lists {metric!r}, which cannot be measured here (known: {", ".join(METRICS)})')
        key, factor = METRICS[metric]
        if key not in evaluated:
            raise InputError(f'the evaluation did not produce {metric} ({key}); it produced {", ".join(evaluated)}')
        measured[metric] = round(float(evaluated[key]) * factor, 4)
    return measured


def judge(metrics: Dict[str, Dict[str, float]], tolerance: float) -> Tuple[str, Optional[str]]:
    """('reproduced', None) when every measured metric is within ``tolerance`` points of the published one,
    else ('off', a line naming each metric that is not)."""
    off = [f'{name} {values["measured"]:.2f} vs {values["published"]:.2f} published '
           f'({values["measured"] - values["published"]:+.2f})'
           for name, values in metrics.items() if abs(values['measured'] - values['published']) > tolerance + 1e-9]
    if off:
        return 'off', f'more than {tolerance} points off: ' + '; '.join(off)
    return 'reproduced', None
