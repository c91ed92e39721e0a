"""mmcv's own op wrappers on mmcv without compiled ops (mmcv-lite): they run mambavision_mm.ops, whichever is
imported first, and an op without a PyTorch version fails when called, naming itself and the fix.

Where mmcv here has its compiled extension, the tests run on a copy of mmcv's Python package without it."""
import os
import shutil

import mmcv
import pytest

from mambavision_mm import compiled_mmcv_ops

from ...helpers.paths import ROOT
from ...helpers.processes import run_tool


@pytest.fixture(scope='module')
def lite_env(tmp_path_factory):
    """Environment variables under which ``import mmcv`` finds no compiled extension."""
    if not compiled_mmcv_ops():
        return {}
    folder = tmp_path_factory.mktemp('mmcv_lite')
    shutil.copytree(os.path.dirname(mmcv.__file__), folder / 'mmcv',
                    ignore=shutil.ignore_patterns('_ext*.so', '_ext*.pyd', 'csrc'))
    return {'PYTHONPATH': str(folder)}


def python(code, env, ok=True):
    return run_tool(['-c', code], ROOT, env=env, ok=ok)


def test_a_script_importing_mmdet_apis_first_gets_roi_align_and_batched_nms(lite_env):
    """No plugin imported: the .pth finder (make venv) answers for mmcv._ext at interpreter start-up."""
    out = python('''
import sys, torch
from mmdet.apis import DetInferencer  # imports mmcv.ops
from mmcv.ops import RoIAlign, batched_nms
assert 'mambavision_mm' in sys.modules['mmcv._ext'].__name__, sys.modules['mmcv._ext']
from mambavision_mm.ops import roi_align_forward
features = torch.randn(2, 3, 16, 16, requires_grad=True)
rois = torch.tensor([[0, 1.0, 2, 9, 12], [1, -4, -4, 30, 7]])
pooled = RoIAlign((7, 7), spatial_scale=0.5, sampling_ratio=0)(features, rois)
pooled.square().sum().backward()
assert pooled.shape == (2, 3, 7, 7) and features.grad.abs().sum() > 0
boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10.0]])
dets, keep = batched_nms(boxes, torch.tensor([0.9, 0.8, 0.7]), torch.tensor([0, 0, 1]), dict(iou_threshold=0.5))
print('kept', keep.tolist())
''', lite_env)
    assert 'kept [0, 2]' in out  # box 1 overlaps box 0 of its class; box 2 is of another class


def test_meta_tensors_give_shapes(lite_env):
    out = python('''
import torch, mambavision_mm
from mmcv.ops import roi_align
print('shape', tuple(roi_align(torch.empty(2, 8, 50, 60, device='meta'), torch.empty(5, 5, device='meta'), (7, 7),
                               0.25, 0, 'avg', True).shape))
''', lite_env)
    assert 'shape (5, 8, 7, 7)' in out


def test_the_plugin_says_which_ops_run_and_missing_ops_fail_when_called(lite_env):
    out = python('''
import torch, mambavision_mm
import mmcv.ops  # imports every op module: names without a PyTorch version must not fail here
from mmcv.ops import sigmoid_focal_loss
sigmoid_focal_loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))
''', lite_env, ok=False)
    assert out.count('mmcv ops: mmcv has no compiled extension here (mmcv-lite); RoIAlign and NMS run in PyTorch') == 1
    assert ("CompiledOpMissing: mmcv op 'sigmoid_focal_loss_forward' needs mmcv's compiled ops, which are not "
            'installed (mmcv-lite)') in out
    assert out.strip().splitlines()[-1].endswith(
        'Install them: pip install mmcv==2.1.0 (it compiles them; in a checkout: make venv MMCV=compiled)')
