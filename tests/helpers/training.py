"""Training runs as the tools start them: runners, data-loader workers, a toy dataset, a run's last metric."""
import os
import re

from .paths import ROOT
from .processes import run_tool


def workers(n):
    """--cfg-options for ``n`` data-loader workers (persistent when there are any)."""
    return ['--cfg-options', f'train_dataloader.num_workers={n}', f'train_dataloader.persistent_workers={n > 0}']


def runner_of(config, work_dir, options):
    """The runner that tools/train.py builds for ``config`` with ``options`` (its --cfg-options) in ``work_dir``."""
    from mambavision_mm.apis.launcher import build_runner, load_config
    return build_runner(load_config(config, options, work_dir=str(work_dir)))


def toy_dataset(root, split='training', **kwargs):
    """mmseg's BaseSegDataset over a generated ADE20K-layout folder."""
    from mmseg.datasets import BaseSegDataset
    return BaseSegDataset(data_root=root, img_suffix='.jpg', seg_map_suffix='.png',
                          metainfo=dict(classes=('background', 'rectangle', 'ellipse', 'triangle')),
                          data_prefix=dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}'),
                          **kwargs)


def train_and_read(args, cwd, pattern):
    """Train with tools/train.py ARGS in ``cwd``; returns the last value the log gives for ``pattern``."""
    output = run_tool([os.path.join(ROOT, 'tools/train.py'), *args], cwd, timeout=3000)
    value = float(re.findall(pattern, output)[-1])
    print(f'{pattern}: {value}')
    return value
