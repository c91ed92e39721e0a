"""Effective receptive fields: zero outside the theoretical field, growing with depth; area ratios by hand."""
import numpy as np
import pytest
import torch

from mambavision_backbone import MambaVision
from mambavision_mm.analysis.erf import area_ratio, area_ratios, erf_contributions, scaled


def images(count, size=64):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(1, 3, size, size, generator=g) for _ in range(count)]


def micro_model():
    torch.manual_seed(0)
    return MambaVision(arch=None, dim=16, in_dim=16, depths=(1, 1, 2, 2), num_heads=(2, 2, 2, 4),
                       window_size=(8, 8, 4, 2), drop_path_rate=0.0).eval()


def test_the_stems_erf_is_zero_outside_its_7x7_field():
    """Two 3x3 stride-2 convolutions (padding 1): output (j, j) sees input rows and columns 4j-3 .. 4j+3."""
    stem = micro_model().patch_embed
    contribution = erf_contributions(lambda x: (stem(x),), images(2))[0]
    j = 16 // 2  # the central position of the 16x16 stem output
    inside = np.zeros_like(contribution, dtype=bool)
    inside[4 * j - 3:4 * j + 4, 4 * j - 3:4 * j + 4] = True
    assert (contribution[~inside] == 0).all()
    assert (contribution[inside] > 0).mean() > 0.5


def test_erf_is_the_rectified_input_gradient_summed_over_channels():
    """One 3x3 convolution whose central output is positive: its gradient is the kernel in every input channel,
    of which the ERF keeps the positive part, summed over the 3 channels and 2 images."""
    kernel = torch.tensor([[1.0, -1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, -3.0]]).expand(1, 3, 3, 3)
    conv = torch.nn.Conv2d(3, 1, 3, padding=1)
    with torch.no_grad():
        conv.weight.copy_(kernel)
        conv.bias.fill_(100.0)
    contribution = erf_contributions(lambda x: (conv(x * 0.01),), images(2, size=8))[0]
    expected = np.zeros((8, 8))
    expected[3:6, 3:6] = 2 * 3 * 0.01 * np.array([[1, 0, 0], [0, 2, 0], [0, 0, 0]])
    np.testing.assert_allclose(contribution, expected, rtol=1e-6, atol=1e-12)


def test_erf_areas_grow_with_depth():
    contributions = erf_contributions(micro_model(), images(2))
    assert contributions.shape == (4, 64, 64)
    ratios = area_ratios(contributions)
    for threshold in ('0.2', '0.5', '0.99'):
        areas = [ratios[f'stage{k}'][threshold] for k in range(1, 5)]
        assert areas == sorted(areas) and areas[0] < areas[-1], (threshold, areas)


def test_area_ratios_by_hand():
    point = np.zeros((9, 9))
    point[4, 4] = 5.0
    assert area_ratio(point, 0.99) == pytest.approx(1 / 81)
    uniform = np.ones((5, 5))
    assert area_ratio(uniform, 0.02) == pytest.approx(1 / 25)    # 1 of 25 cells holds 4%
    assert area_ratio(uniform, 0.2) == pytest.approx(9 / 25)     # 3x3 holds 36%
    assert area_ratio(uniform, 0.5) == 1.0                       # only the whole map holds more than half
    wide = np.ones((3, 7))
    assert area_ratio(wide, 0.4) == pytest.approx(9 / 21)        # the 3x3 square, clipped rows: 9 of 21 cells
    assert area_ratio(np.zeros((4, 4)), 0.5) == 1.0


def test_scaled_maps_are_log10_over_their_maximum():
    np.testing.assert_allclose(scaled(np.array([0.0, 9.0, 99.0])), [0.0, 0.5, 1.0])
    assert scaled(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]
