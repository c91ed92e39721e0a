"""The model zoo as data: model-index.yml and the metafiles agree with the configs and the README."""
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ..helpers import ROOT, zoo_models


def metrics(model):
    return {name: value for result in model['Results'] for name, value in result['Metrics'].items()}


def test_every_published_config_is_in_the_zoo():
    configs = {m['Config'] for m in zoo_models()}
    published = {os.path.join('configs', task, f) for task in ('mmdet', 'mmseg')
                 for f in os.listdir(os.path.join(ROOT, 'configs', task)) if f.endswith('.py')}
    assert configs == published and len(configs) == 14  # 7 published recipes, 7 comparison configs


@pytest.mark.parametrize('model', zoo_models(), ids=lambda m: m['Name'])
def test_entry_config_builds_with_the_listed_parameters(model):
    cfg = Config.fromfile(os.path.join(ROOT, model['Config']))
    assert model['Name'] == os.path.splitext(os.path.basename(model['Config']))[0]
    init_default_scope(cfg.default_scope)
    from mmengine.registry import MODELS
    with torch.device('meta'):
        built = MODELS.build(cfg.model)
    assert round(sum(p.numel() for p in built.parameters()) / 1e6, 1) == model['Metadata']['Parameters (M)']


@pytest.mark.parametrize('model', zoo_models(), ids=lambda m: m['Name'])
def test_readme_table_agrees_with_the_metafile(model):
    rows = [line for line in open(os.path.join(ROOT, 'README.md')) if f'({model["Config"]})' in line]
    assert len(rows) == 1, f'README has {len(rows)} model-zoo rows for {model["Config"]}'
    cells = [c.strip() for c in rows[0].strip().strip('|').split('|')]
    values = metrics(model)
    published = ' / '.join(str(values[k]) for k in ('box AP', 'mask AP', 'mIoU') if k in values)
    meta = model['Metadata']
    assert cells[2] == (published or 'not published')
    assert cells[3] == f"{meta['Published Parameters (M)'] or '-'} / {meta['Parameters (M)']}"
    assert cells[4] == f"{meta['Published FLOPs (G)'] or '-'} / {meta['FLOPs (G)']}"
