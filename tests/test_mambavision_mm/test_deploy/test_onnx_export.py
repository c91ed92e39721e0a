"""Export modules that need no ONNX package: the shape-generic pooling and the traced example size."""
import pytest
import torch
from torch import nn

from mambavision_backbone import MambaVision
from mambavision_mm.deploy.onnx_export import ShapeGenericAdaptiveAvgPool2d, traceable_shape


@pytest.mark.parametrize('output_size', [1, 2, 3, 6, (2, 5)])
@pytest.mark.parametrize('size', [(16, 16), (17, 23), (5, 7), (6, 6)])
def test_shape_generic_pooling_equals_adaptive_average_pooling(output_size, size):
    """UPerNet's pyramid pooling (scales 1, 2, 3, 6) at sizes that the bins divide and that they do not."""
    x = torch.randn(2, 4, *size, dtype=torch.float64)
    torch.testing.assert_close(ShapeGenericAdaptiveAvgPool2d(output_size)(x), nn.AdaptiveAvgPool2d(output_size)(x),
                               rtol=1e-12, atol=1e-12)


def test_dynamic_exports_are_traced_where_every_window_stage_pads():
    """A whole number of windows at the example size would fix the padding and window counts in the graph."""
    assert traceable_shape(MambaVision('t', window_size=(8, 8, 16, 8)), (256, 256)) == (257, 257)
    assert traceable_shape(MambaVision('t', window_size=(8, 8, 64, 32)), (512, 512)) == (512, 512)
    assert traceable_shape(MambaVision('t', window_size=(8, 8, 14, 7)), (224, 448)) == (225, 449)
