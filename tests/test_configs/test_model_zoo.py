"""The model zoo as data: model-index.yml and the metafiles agree with the configs and the README."""
import os

import pytest
import torch
from mmengine.config import Config

from mambavision_mm.apis.model_index import read_model_index
from mambavision_mm.apis.models import build_model
from mambavision_mm.apis.reproduction import DATASETS, METRICS, DataNotFoundError, evaluation_config

from ..helpers.paths import ROOT, zoo_models


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
    with torch.device('meta'):
        built = build_model(cfg)
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
    assert cells[5] == (f"[model]({model['Weights']})" if model['Weights'] else 'none published')


PUBLISHED_WEIGHTS = {  # the upstream READMEs' files (the S detector's own repository: its README links the T file)
    'cascade-mask-rcnn_mambavision-t_fpn_3x_coco': 'cascade_mask_rcnn_mamba_vision_tiny_3x_coco',
    'cascade-mask-rcnn_mambavision-s_fpn_3x_coco': 'cascade_mask_rcnn_mamba_vision_small_3x_coco',
    'cascade-mask-rcnn_mambavision-b_fpn_3x_coco': 'cascade_mask_rcnn_mamba_vision_base_3x_coco',
    'upernet_mambavision-t_160k_ade20k-512x512': 'mamba_vision_160k_ade20k-512x512_tiny',
    'upernet_mambavision-s_160k_ade20k-512x512': 'mamba_vision_160k_ade20k-512x512_small',
    'upernet_mambavision-b_160k_ade20k-512x512': 'mamba_vision_160k_ade20k-512x512_base',
    'upernet_mambavision-l3-21k_160k_ade20k-640x640': 'mamba_vision_160k_ade20k-640x640_l3_21k',
}
IMAGENET = {'tiny': 'MambaVision-T-1K/resolve/main/mambavision_tiny_1k.pth.tar',
            'small': 'MambaVision-S-1K/resolve/main/mambavision_small_1k.pth.tar',
            'base': 'MambaVision-B-1K/resolve/main/mambavision_base_1k.pth.tar',
            'L3': 'MambaVision-L3-512-21K/resolve/main/mambavision_L3_21k_740m_512.pth.tar'}


@pytest.mark.parametrize('model', zoo_models(), ids=lambda m: m['Name'])
def test_published_weights_and_imagenet_files_by_url(model):
    repo = PUBLISHED_WEIGHTS.get(model['Name'])
    expected = f'https://huggingface.co/nvidia/{repo}/resolve/main/{repo}.pth' if repo else None
    assert model['Weights'] == expected
    cfg = Config.fromfile(os.path.join(ROOT, model['Config']))
    arch = 'L3' if 'l3' in model['Name'] else cfg.model.backbone.arch
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained',
                                               checkpoint=f'https://huggingface.co/nvidia/{IMAGENET[arch]}')


def test_every_published_entry_is_one_the_reproduce_tool_measures(tmp_path):
    # The real zoo as tools/reproduce.py reads it, without downloads: https weights, a dataset and metrics it
    # knows, and configs whose test data it finds under --data-root (here a folder without data: named missing).
    zoo = read_model_index(os.path.join(ROOT, 'model-index.yml'))
    published = [model for model in zoo if model.published]
    assert [model.name for model in published] == list(PUBLISHED_WEIGHTS)
    assert all(not model.weights and not model.metrics for model in zoo if not model.published)  # comparisons
    for model in published:
        assert model.weights.startswith('https://huggingface.co/nvidia/') and os.path.isfile(model.config)
        assert model.task in ('Object Detection', 'Semantic Segmentation') and model.dataset in DATASETS
        assert set(model.metrics) == ({'box AP', 'mask AP'} if model.dataset == 'COCO' else {'mIoU'})
        assert set(model.metrics) <= set(METRICS)
        root = str(tmp_path / DATASETS[model.dataset])
        expected = {'COCO': 'annotations/instances_val2017.json', 'ADE20K': 'images/validation'}[model.dataset]
        with pytest.raises(DataNotFoundError, match=f'expected {root}/{expected} \\(set its folder with --data-root'):
            evaluation_config(model.config, model.weights, str(tmp_path / 'work'), root, '--data-root')
