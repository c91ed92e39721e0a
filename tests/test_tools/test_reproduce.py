"""tools/reproduce.py on a toy zoo of its own: micro detector and segmentor configs on generated data, random
weights served on 127.0.0.1, published values measured by tools/test.py; and its parts on their own."""
import hashlib
import json
import os
import re
import socket
import subprocess
import sys

import pytest
import yaml
from mmengine.config import Config

from mambavision_mm.apis.inputs import InputError
from mambavision_mm.apis.model_index import read_model_index
from mambavision_mm.apis.reproduction import judge, missing_data, point_at_data, zoo_metrics
from mambavision_mm.testing import CheckpointServer, generate_ade20k, generate_coco

from ..helpers.paths import ROOT
from ..helpers.processes import kill_when_logged, run_tool

REPRODUCE = os.path.join(ROOT, 'tools/reproduce.py')
ZOO = os.path.join(ROOT, 'tests/data/zoo')
DET = os.path.join(ZOO, 'cascade-mask-rcnn_mambavision-micro_toy-zoo.py')
SEG = os.path.join(ZOO, 'upernet_mambavision-micro_toy-zoo.py')


def test_zoo_metrics_are_percent_whatever_the_evaluator_reports():
    evaluated = {'coco/bbox_mAP': 0.511, 'coco/segm_mAP': 0.443, 'coco/bbox_mAP_50': 0.7}
    assert zoo_metrics(evaluated, ['box AP', 'mask AP']) == {'box AP': 51.1, 'mask AP': 44.3}
    assert zoo_metrics({'mIoU': 46.02, 'aAcc': 80.0}, ['mIoU']) == {'mIoU': 46.02}
    with pytest.raises(InputError, match=r"did not produce mask AP \(coco/segm_mAP\); it produced coco/bbox_mAP"):
        zoo_metrics({'coco/bbox_mAP': 0.5}, ['box AP', 'mask AP'])
    with pytest.raises(InputError, match="the zoo lists 'PQ', which cannot be measured here"):
        zoo_metrics({'mIoU': 1.0}, ['PQ'])


def test_a_verdict_per_row_within_the_tolerance():
    metrics = {'box AP': dict(published=51.1, measured=50.8), 'mask AP': dict(published=44.3, measured=44.9)}
    assert judge(metrics, 0.3) == ('off', 'more than 0.3 points off: mask AP 44.90 vs 44.30 published (+0.60)')
    assert judge(metrics, 0.6) == ('reproduced', None)  # 0.6 points exactly are within


def test_the_index_follows_imports_with_configs_relative_to_its_folder(tmp_path):
    (tmp_path / 'zoo').mkdir()
    (tmp_path / 'index.yml').write_text('Import:\n  - zoo/metafile.yml\n')
    (tmp_path / 'zoo/metafile.yml').write_text(yaml.safe_dump({'Models': [
        {'Name': 'a', 'Config': 'configs/a.py', 'Weights': 'https://host/a.pth',
         'Results': [{'Task': 'Semantic Segmentation', 'Dataset': 'ADE20K', 'Metrics': {'mIoU': 46.0}}]},
        {'Name': 'b', 'Config': 'configs/b.py', 'Weights': None}]}))
    a, b = read_model_index(str(tmp_path / 'index.yml'))
    assert (a.name, a.config, a.dataset, a.metrics, a.published) == (
        'a', str(tmp_path / 'configs/a.py'), 'ADE20K', {'mIoU': 46.0}, True)
    assert (b.name, b.metrics, b.published) == ('b', {}, False)
    (tmp_path / 'zoo/metafile.yml').write_text(yaml.safe_dump({'Models': [{'Name': 'a', 'Config': 'x.py'}] * 2}))
    with pytest.raises(InputError, match='the model a is listed twice'):
        read_model_index(str(tmp_path / 'index.yml'))
    with pytest.raises(InputError, match='model index .*absent.yml does not exist'):
        read_model_index(str(tmp_path / 'absent.yml'))


def test_data_root_moves_the_dataloaders_and_the_coco_annotations():
    cfg = Config.fromfile(os.path.join(ROOT, 'configs/mmdet/cascade-mask-rcnn_mambavision-t_fpn_3x_coco.py'))
    assert cfg.test_evaluator.ann_file == 'data/coco/annotations/instances_val2017.json'  # mmdet's base
    point_at_data(cfg, '/datasets/coco')
    assert cfg.test_dataloader.dataset.data_root == cfg.val_dataloader.dataset.data_root == '/datasets/coco'
    assert cfg.test_evaluator.ann_file == cfg.val_evaluator.ann_file == \
        '/datasets/coco/annotations/instances_val2017.json'
    assert missing_data(cfg) == '/datasets/coco/annotations/instances_val2017.json'


@pytest.fixture(scope='module')
def toy_zoo(tmp_path_factory):
    """A folder with generated COCO and ADE20K data, micro detector and segmentor weights (random, seed 0)
    served on 127.0.0.1, and the segmentor's mIoU as tools/test.py measures it; yields (folder, server, mIoU)."""
    root = tmp_path_factory.mktemp('toy_zoo')
    generate_coco(str(root / 'data/toy_coco'), train=1, val=3, size=(160, 128))
    generate_ade20k(str(root / 'data/toy_ade'), train=1, val=3)
    (root / 'served/det').mkdir(parents=True)
    (root / 'served/seg').mkdir()
    code = ('import sys, torch; from mmengine.config import Config; from mambavision_mm.apis.models import '
            'build_model; torch.manual_seed(0); '
            "torch.save({'state_dict': build_model(Config.fromfile(sys.argv[1])).state_dict()}, sys.argv[2])")
    for config, path in ((DET, 'served/det/model.pth'), (SEG, 'served/seg/model.pth')):
        run_tool(['-c', code, config, str(root / path)], root)
    out = run_tool([os.path.join(ROOT, 'tools/test.py'), SEG, 'served/seg/model.pth', '--work-dir', 'test_py'], root)
    miou = float(re.findall(r'mIoU: ([\d.]+)', out)[-1])
    with CheckpointServer(str(root / 'served')) as server:
        yield root, server, miou


def write_zoo(folder, entries):
    """index.yml importing metafile.yml with ``entries``: (name, config, weights, dataset, metrics)."""
    models = []
    for name, config, weights, dataset, metrics in entries:
        model = {'Name': name, 'Config': os.path.relpath(config, folder), 'Weights': weights}
        if metrics:
            task = 'Semantic Segmentation' if 'mIoU' in metrics else 'Instance Segmentation'
            model['Results'] = [{'Task': task, 'Dataset': dataset, 'Metrics': metrics}]
        models.append(model)
    (folder / 'metafile.yml').write_text(yaml.safe_dump({'Models': models}, sort_keys=False))
    (folder / 'index.yml').write_text('Import:\n  - metafile.yml\n')
    return str(folder / 'index.yml')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def reproduce(cwd, *args, status=None, env=None):
    return run_tool([REPRODUCE, *args], cwd, status=status, env={'TORCH_HOME': str(cwd / 'torch_home'), **(env or {})},
                    timeout=600)


def rows(work_dir):
    with open(work_dir / 'reproduction.json') as f:
        return {row['name']: row for row in json.load(f)['models']}


@pytest.mark.slow  # about 90 s (AMD EPYC): three runs of the toy zoo
def test_a_toy_zoo_gets_a_verdict_per_row_and_a_second_run_evaluates_nothing(toy_zoo, tmp_path):
    root, server, miou = toy_zoo
    index = write_zoo(tmp_path, [
        ('seg', SEG, server.url('seg/model.pth'), 'ADE20K', {'mIoU': miou}),
        ('seg-off', SEG, server.url('seg/model.pth'), 'ADE20K', {'mIoU': miou + 0.5}),
        ('seg-404', SEG, server.url('absent/model.pth'), 'ADE20K', {'mIoU': miou}),
        ('seg-html', SEG, server.url('seg/model.pth', 'html'), 'ADE20K', {'mIoU': miou}),
        ('det-no-data', DET, server.url('det/model.pth'), 'COCO', {'box AP': 0.0, 'mask AP': 0.0}),
        ('seg-det-weights', SEG, server.url('det/model.pth'), 'ADE20K', {'mIoU': miou}),  # fails in the evaluation
        ('no-config', str(tmp_path / 'absent.py'), server.url('seg/model.pth'), 'ADE20K', {'mIoU': miou}),
        ('comparison', DET, None, None, None)])
    work = tmp_path / 'out'
    no_coco = tmp_path / 'no_coco'
    out = reproduce(root, '--index', index, '--work-dir', str(work), '--data-root', f'coco={no_coco}', status=1)
    assert 'comparison: no published figures (weights and results): skipped' in out
    assert '[1/7] seg: evaluating' in out and '[1/7] seg: reproduced in' in out and 'Iter(test) [3/3]' in out
    found = rows(work)
    assert list(found) == ['seg', 'seg-off', 'seg-404', 'seg-html', 'det-no-data', 'seg-det-weights', 'no-config']
    assert found['seg']['metrics'] == {'mIoU': {'published': miou, 'measured': miou}}  # tools/test.py's figure
    assert found['seg']['verdict'] == 'reproduced' and found['seg']['reason'] is None
    with open(root / 'served/seg/model.pth', 'rb') as f:
        assert found['seg']['sha256'] == hashlib.sha256(f.read()).hexdigest()
    assert found['seg-off']['verdict'] == 'off'
    assert found['seg-off']['reason'] == \
        f'more than 0.3 points off: mIoU {miou:.2f} vs {miou + 0.5:.2f} published (-0.50)'
    assert found['seg-404']['verdict'] == 'failed' and 'HTTP 404 Not Found' in found['seg-404']['reason']
    assert 'the server sent an HTML page, not a checkpoint' in found['seg-html']['reason']
    assert found['det-no-data']['reason'] == (
        f'dataset not found: expected {no_coco}/annotations/instances_val2017.json (set its folder with --data-root '
        'coco=DIR)')
    assert 'is not a checkpoint of this EncoderDecoder' in found['seg-det-weights']['reason']
    assert found['no-config']['reason'] == f'config {tmp_path / "absent.py"} does not exist'
    for row in found.values():
        assert '\n' not in (row['reason'] or '') and row['seconds'] >= 0
        assert (row['finished'] is not None) == (row['verdict'] != 'failed')
    table = (work / 'reproduction.md').read_text()
    assert f'| seg-off | mIoU | {miou + 0.5:g} | {miou:.2f} | -0.50 | off: more than 0.3 points off' in table
    assert 'Not evaluated, no published figures: comparison.' in table

    requests = len(server.requests)
    again = reproduce(root, '--index', index, '--work-dir', str(work), '--data-root', f'coco={no_coco}',
                      '--tolerance', '0.6', status=1)
    assert '[1/7] seg: kept (reproduced' in again and '[2/7] seg-off: kept (reproduced' in again
    assert '[3/7] seg-404: evaluating' in again and 'Iter(test)' not in again  # only the failed ones retried
    assert [path for path in server.requests[requests:] if 'seg/model.pth' in path] == ['/html/seg/model.pth']
    kept = rows(work)
    assert kept['seg-off']['verdict'] == 'reproduced' and kept['seg-off']['finished'] == found['seg-off']['finished']

    fixed = reproduce(root, '--index', index, '--work-dir', str(work), '--data-root', 'coco=data/toy_coco',
                      '--models', 'det-no-data', status=0)  # the one model selected reproduced
    det = rows(work)['det-no-data']
    assert det['verdict'] == 'reproduced' and det['metrics']['box AP']['measured'] == 0.0, fixed[-3000:]


@pytest.mark.slow  # about 60 s (AMD EPYC)
def test_a_run_killed_after_the_first_model_keeps_it(toy_zoo, tmp_path):
    root, server, miou = toy_zoo
    index = write_zoo(tmp_path, [('first', SEG, server.url('seg/model.pth'), 'ADE20K', {'mIoU': miou}),
                                 ('second', SEG, server.url('seg/model.pth'), 'ADE20K', {'mIoU': miou})])
    work = tmp_path / 'out'
    kill_when_logged([REPRODUCE, '--index', index, '--work-dir', str(work)], root, '[2/2] second: evaluating')
    assert list(rows(work)) == ['first']
    first = rows(work)['first']
    out = reproduce(root, '--index', index, '--work-dir', str(work), status=0)
    assert '[1/2] first: kept (reproduced' in out and '[2/2] second: reproduced in' in out
    assert rows(work)['first'] == first


@pytest.mark.slow  # about 80 s (AMD EPYC): torchrun with two CPU processes on gloo, then one process
def test_two_processes_measure_what_one_does(toy_zoo, tmp_path):
    root, server, miou = toy_zoo
    index = write_zoo(tmp_path, [('seg', SEG, server.url('seg/model.pth'), 'ADE20K', {'mIoU': miou}),
                                 ('det', DET, server.url('det/model.pth'), 'COCO', {'box AP': 0.0, 'mask AP': 0.0})])
    env = {**os.environ, 'PYTHON': sys.executable, 'PORT': str(free_port()), 'OMP_NUM_THREADS': '1',
           'TORCH_HOME': str(root / 'torch_home'), 'PYTHONUNBUFFERED': '1'}
    result = subprocess.run(['bash', os.path.join(ROOT, 'tools/dist_reproduce.sh'), '2', '--index', index,
                             '--work-dir', str(tmp_path / 'two')], cwd=root, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert 'distributed processes run on the CPU with the gloo backend' in result.stdout + result.stderr
    reproduce(root, '--index', index, '--work-dir', str(tmp_path / 'one'), status=0)
    two, one = rows(tmp_path / 'two'), rows(tmp_path / 'one')
    for name in ('seg', 'det'):
        assert two[name]['metrics'] == one[name]['metrics'] and two[name]['verdict'] == 'reproduced'
    assert one['seg']['metrics']['mIoU']['measured'] == miou


def test_bad_options_are_one_line(tmp_path):
    index = write_zoo(tmp_path, [('seg', SEG, 'https://host/seg.pth', 'ADE20K', {'mIoU': 1.0})])
    out = reproduce(tmp_path, '--index', index, '--models', 'nothing', status=2)
    assert out.strip().splitlines()[-1] == 'error: --models: nothing not in the zoo; it has seg'
    out = reproduce(tmp_path, '--index', index, '--data-root', 'cityscapes=x', status=2)
    assert out.strip().splitlines()[-1] == ('error: --data-root cityscapes: no model of the zoo reads it (its '
                                            'datasets: ade20k)')
    out = reproduce(tmp_path, '--index', index, '--data-root', 'ade20k', status=2)
    assert "--data-root takes DATASET=DIR pairs (coco=data/coco); got 'ade20k'" in out
    assert not (tmp_path / 'work_dirs').exists()
