"""RoIAlign in PyTorch against what mmcv's compiled kernels computed (tests/data/mmcv_ops_reference.pt)."""
import os

import pytest
import torch

from mambavision_mm.ops import roi_align_backward, roi_align_forward

from ...helpers.paths import DATA

REFERENCE = torch.load(os.path.join(DATA, 'mmcv_ops_reference.pt'), weights_only=True)
CASES = [(scene, case) for scene in REFERENCE['roi_align'] for case in scene['cases']]
SETTINGS = ('aligned_height', 'aligned_width', 'spatial_scale', 'sampling_ratio', 'pool_mode', 'aligned')


def run(features, rois, case, grad_output=None):
    """(output, argmax y, argmax x, input gradient) as mmcv's RoIAlign wrapper calls the two kernels."""
    kwargs = {k: case[k] for k in SETTINGS}
    shape = (rois.shape[0], features.shape[1], case['aligned_height'], case['aligned_width'])
    output = features.new_zeros(shape)
    argmax_y = features.new_zeros(shape if case['pool_mode'] == 0 else 0)
    argmax_x = features.new_zeros(shape if case['pool_mode'] == 0 else 0)
    roi_align_forward(features, rois, output, argmax_y, argmax_x, **kwargs)
    grad_input = features.new_zeros(features.shape)
    grad_output = case['grad_output'] if grad_output is None else grad_output
    roi_align_backward(grad_output, rois, argmax_y, argmax_x, grad_input, **kwargs)
    return output, argmax_y, argmax_x, grad_input


@pytest.mark.parametrize('scene, case', CASES, ids=lambda c: None)
def test_values_argmax_and_gradients_equal_mmcv_compiled(scene, case):
    """Random RoIs with partly and wholly outside, zero-size, sub-pixel and oversized ones, four feature scales,
    sampling_ratio 0 (adaptive) and 2, max and avg pooling, aligned and not."""
    output, argmax_y, argmax_x, grad_input = run(scene['features'], scene['rois'], case)
    torch.testing.assert_close(output, case['output'], rtol=0, atol=1e-5)
    torch.testing.assert_close(grad_input, case['grad_input'], rtol=0, atol=1e-5)
    if case['pool_mode'] == 0:
        torch.testing.assert_close(argmax_y, case['argmax_y'], rtol=0, atol=1e-5)
        torch.testing.assert_close(argmax_x, case['argmax_x'], rtol=0, atol=1e-5)


def test_the_reference_covers_every_setting_and_edge():
    settings = {(c['sampling_ratio'], c['pool_mode'], c['aligned']) for _, c in CASES}
    assert settings == {(s, p, a) for s in (0, 2) for p in (0, 1) for a in (True, False)}
    assert {c['spatial_scale'] for _, c in CASES} >= {1.0, 0.25, 0.0625}
    assert any((c['output'] == 0).all(1).any() for _, c in CASES if c['pool_mode'] == 1)  # RoIs outside the map
    assert any((c['argmax_y'] == -1).any() for _, c in CASES if c['pool_mode'] == 0)  # empty bins


def test_gradients_are_those_of_the_forward_pass():
    """The avg backward is the transpose of the (linear) forward: <forward(x), g> = <x, backward(g)>."""
    scene = REFERENCE['roi_align'][0]
    for case in scene['cases']:
        if case['pool_mode'] != 1:
            continue
        features = scene['features'].double()
        output, _, _, grad_input = run(features, scene['rois'].double(), case, case['grad_output'].double())
        torch.testing.assert_close((output * case['grad_output'].double()).sum(), (features * grad_input).sum())


def test_empty_rois_and_meta_tensors_compute_nothing():
    case = dict(aligned_height=7, aligned_width=7, spatial_scale=0.25, sampling_ratio=0, pool_mode=1, aligned=True,
                grad_output=torch.zeros(0, 4, 7, 7))
    output, _, _, grad_input = run(torch.randn(2, 4, 9, 9), torch.zeros(0, 5), case)
    assert output.shape == (0, 4, 7, 7) and not grad_input.any()
    meta = run(torch.randn(2, 4, 9, 9, device='meta'), torch.zeros(3, 5, device='meta'),
               dict(case, grad_output=torch.zeros(3, 4, 7, 7, device='meta')))
    assert meta[0].shape == (3, 4, 7, 7) and meta[0].device.type == 'meta'


def test_negative_sizes_are_refused_when_aligned():
    case = dict(aligned_height=2, aligned_width=2, spatial_scale=1.0, sampling_ratio=0, pool_mode=1, aligned=True)
    with pytest.raises(ValueError, match='x2 < x1 or y2 < y1'):
        run(torch.randn(1, 1, 5, 5), torch.tensor([[0.0, 3, 3, 1, 4]]), dict(case, grad_output=None))
