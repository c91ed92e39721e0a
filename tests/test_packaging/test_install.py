"""The package installed as users install it: a wheel with what it must hold (make test), and a fresh environment
of registry packages plus `pip install` of a copy of this repository, used from another folder through mmdet's
own tools and mim with weights by URL from a local server (slow)."""
import glob
import os
import pickle
import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml

from mambavision_mm.testing import CheckpointServer

from ..helpers.paths import ROOT
from ..helpers.processes import run

PIP = ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check']
TOY_CONFIG = 'configs/mmdet/toy/cascade-mask-rcnn_mambavision-t_fpn_toy-shapes.py'
SEG_MODEL = 'upernet_mambavision-t_160k_ade20k-512x512'
# Written in the fresh environment: the toy detector with random weights, saved as an mmengine 0.10 runner saves
# (message hub with a HistoryBuffer, numpy values): the layout of the published checkpoints.
WRITE_CHECKPOINT = '''
import sys, numpy as np, torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer
from mmengine.registry import init_default_scope
import mmdet_plugin
from mmdet.registry import MODELS
cfg = Config.fromfile(sys.argv[1])
init_default_scope('mmdet')
torch.manual_seed(0)
model = MODELS.build(cfg.model)
torch.save({'meta': {'epoch': np.int64(36), 'seed': np.int64(0)}, 'state_dict': model.state_dict(),
            'message_hub': {'log_scalars': {'train/loss': HistoryBuffer([1.0], [1])}, 'runtime_info': {},
                            'resumed_keys': {}}}, sys.argv[2])
'''


def copy_of_this_repository(target):
    """The tracked files of the working tree (what a clone of this commit, with its changes, holds)."""
    files = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split('\0'):
        if name and os.path.isfile(os.path.join(ROOT, name)):
            os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), os.path.join(target, name))


def test_the_wheel_holds_the_startup_file_and_the_model_zoo(tmp_path):
    copy_of_this_repository(tmp_path / 'src')
    run([sys.executable, '-m', 'pip', 'wheel', '--quiet', '--no-deps', '--no-build-isolation', '-w', 'dist', './src'],
        tmp_path)
    wheel = zipfile.ZipFile(glob.glob(str(tmp_path / 'dist/mambavision_mm-*.whl'))[0])
    names = set(wheel.namelist())
    assert 'mambavision_mmcv_ext.pth' in names  # at the top of site-packages, where Python reads it at start-up
    startup = wheel.read('mambavision_mmcv_ext.pth').decode()
    assert startup.startswith('import ') and "find_spec('mambavision_mm')" in startup and '/' not in startup
    for path in ('model-index.yml', 'configs/mmdet/metafile.yml', 'configs/mmseg/metafile.yml', TOY_CONFIG,
                 'tools/model_converters/convert_checkpoint.py'):
        assert f'mambavision_backbone/.mim/{path}' in names, path
    assert 'mambavision_tools/convert_checkpoint.py' in names  # the tools' helpers: a package of their own
    assert not any(n.startswith('mambavision_backbone/.mim/tools/mambavision_tools') for n in names)
    metadata = wheel.read(next(n for n in names if n.endswith('.dist-info/METADATA'))).decode()
    assert 'Requires-Dist: setuptools<81,>=64' in metadata and 'Requires-Dist: torch>=2.6' in metadata
    assert next(n for n in names if n.endswith('.dist-info/top_level.txt'))
    top_level = wheel.read(next(n for n in names if n.endswith('top_level.txt'))).decode().split()
    assert top_level[0] == 'mambavision_backbone'  # where mim looks for .mim/


@pytest.fixture(scope='module')
def fresh_environment(tmp_path_factory):
    """A venv of registry packages (torch, the pinned third-party packages, mmengine, mmdet, mmseg, mmcv-lite,
    openmim) with this repository pip-installed from a copy whose segmentation metafile points the T UPerNet's
    weights at a local server; yields (folder, python, server)."""
    root = tmp_path_factory.mktemp('fresh_env')
    with CheckpointServer(str(root / 'served')) as server:
        os.makedirs(root / 'served')
        copy_of_this_repository(root / 'src')
        metafile = root / 'src/configs/mmseg/metafile.yml'
        zoo = yaml.safe_load(metafile.read_text())
        entry = next(m for m in zoo['Models'] if m['Name'] == SEG_MODEL)
        metafile.write_text(metafile.read_text().replace(entry['Weights'], server.url('upernet_t.pth')))
        run([sys.executable, '-m', 'venv', 'env'], root)
        python = str(root / 'env/bin/python')
        requirements = os.path.join(ROOT, 'requirements')
        run([python, *PIP, 'torch==2.13.0'], root, timeout=900)
        run([python, *PIP, '-r', os.path.join(requirements, 'runtime.txt'), 'click', 'colorama', 'model-index',
             'tabulate', 'requests', 'pandas'], root, timeout=900)
        # MMCV_WHEEL: a compiled mmcv 2.1.0 wheel to stand for a user's compiled mmcv (none is on the registry for
        # this torch); by default mmcv-lite, as the registry has it.
        run([python, *PIP, '--no-deps', '-r', os.path.join(requirements, 'openmmlab.txt'),
             os.environ.get('MMCV_WHEEL', 'mmcv-lite==2.1.0'), 'openmim'], root, timeout=900)
        run([python, *PIP, str(root / 'src')], root, timeout=900)
        yield root, python, server


def installed(python, *parts):
    """A path inside the installed package's .mim folder."""
    code = 'import mambavision_backbone, os; print(os.path.dirname(mambavision_backbone.__file__))'
    folder = subprocess.run([python, '-c', code], capture_output=True, text=True, check=True,  # not from ROOT
                            cwd=os.path.dirname(python)).stdout.strip()
    return os.path.join(folder, '.mim', *parts)


@pytest.mark.slow  # 2-3 min: a fresh environment from the registry (pip's cache makes it quicker)
def test_mmdet_test_py_evaluates_a_published_layout_checkpoint_by_url(fresh_environment):
    root, python, server = fresh_environment
    work = root / 'elsewhere'  # not the checkout: no configs/, no tools/, no PYTHONPATH
    os.makedirs(work)
    env = {'TORCH_HOME': str(root / 'torch_home'), 'PYTHONPATH': ''}
    config = installed(python, TOY_CONFIG)
    run([python, installed(python, 'tools/misc/generate_toy_data.py'), 'coco', 'data/toy_coco', '--train', '1',
         '--val', '1'], work)
    run([python, '-c', WRITE_CHECKPOINT, config, str(root / 'served/detector.pth')], work, env=env)
    mmdet_test = subprocess.run([python, '-c', 'import mmdet, os; print(os.path.dirname(mmdet.__file__))'],
                                capture_output=True, text=True, check=True).stdout.strip() + '/.mim/tools/test.py'
    options = ['--cfg-options', 'model.test_cfg.rcnn.score_thr=0.0']
    by_url = run([python, mmdet_test, config, server.url('detector.pth'), '--out', 'url.pkl', '--work-dir', 'u',
                  *options], work, env=env)
    assert 'Evaluating bbox' in by_url and 'Evaluating segm' in by_url
    if 'MMCV_WHEEL' in os.environ:
        assert "mmcv ops: mmcv's compiled extension" in by_url
    else:  # mmcv-lite: our ops, found by the installed start-up file
        assert 'RoIAlign and NMS run in PyTorch' in by_url
    by_file = run([python, mmdet_test, config, str(root / 'served/detector.pth'), '--out', 'file.pkl',
                   '--work-dir', 'f', *options], work, env=env)
    assert 'Evaluating bbox' in by_file and server.requests.count('/detector.pth') == 1
    url_predictions, file_predictions = (pickle.load(open(work / name, 'rb')) for name in ('url.pkl', 'file.pkl'))
    for ours, theirs in zip(url_predictions, file_predictions):
        for key in ('bboxes', 'scores', 'labels'):
            assert (ours['pred_instances'][key] == theirs['pred_instances'][key]).all()
    assert len(url_predictions[0]['pred_instances']['scores']) == 20


@pytest.mark.slow
def test_mim_lists_the_zoo_and_downloads_weights_and_a_flattened_config(fresh_environment):
    root, python, server = fresh_environment
    (root / 'served/upernet_t.pth').write_bytes(b'stand-in weights')
    mim = str(root / 'env/bin/mim')
    listed = run([mim, 'search', 'mambavision-mm'], root)
    for name in ('cascade-mask-rcnn_mambavision-t_fpn_3x_coco', SEG_MODEL, 'retinanet_mambavision-t_fpn_1x_coco'):
        assert name in listed
    run([mim, 'download', 'mambavision-mm', '--config', SEG_MODEL, '--dest', 'downloaded'], root)
    assert (root / 'downloaded/upernet_t.pth').read_bytes() == b'stand-in weights'
    flattened = (root / f'downloaded/{SEG_MODEL}.py').read_text()
    assert "type='MambaVision'" in flattened and '_base_' not in flattened and "type='UPerHead'" in flattened


@pytest.mark.slow
def test_the_converter_runs_as_a_module_and_as_the_installed_tool(fresh_environment):
    # The command that a refused checkpoint's message names works after pip install, with no checkout.
    root, python, _ = fresh_environment
    work = root / 'converter'
    os.makedirs(work)
    run([python, '-c', "import torch; from mambavision_backbone import MambaVision; "
                       "torch.save({'model': MambaVision('t').state_dict()}, 'published.pth')"], work)
    by_module = run([python, '-m', 'mambavision_tools.convert_checkpoint', 'published.pth', 'a.pth'], work)
    by_tool = run([python, installed(python, 'tools/model_converters/convert_checkpoint.py'), 'published.pth',
                   'b.pth'], work)
    for out, name in ((by_module, 'a.pth'), (by_tool, 'b.pth')):
        assert 'MambaVision-T (detected from the tensor shapes)' in out and (work / name).is_file()


@pytest.mark.slow
def test_pip_uninstall_removes_the_startup_file(fresh_environment):
    root, python, _ = fresh_environment
    site = subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert os.path.isfile(os.path.join(site, 'mambavision_mmcv_ext.pth'))
    run([python, '-m', 'pip', 'uninstall', '--yes', 'mambavision-mm'], root)
    assert not os.path.exists(os.path.join(site, 'mambavision_mmcv_ext.pth'))
    assert not os.path.exists(os.path.join(site, 'mambavision_backbone'))
