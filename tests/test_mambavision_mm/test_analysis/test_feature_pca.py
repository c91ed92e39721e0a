"""Principal-component pictures: the strongest pattern of a feature map becomes its red channel."""
import numpy as np
import torch

from mambavision_mm.analysis.feature_pca import principal_colours


def test_components_follow_the_planted_patterns_in_order():
    g = torch.Generator().manual_seed(0)
    h, w, c = 12, 10, 24
    patterns = torch.randn(3, h * w, generator=g, dtype=torch.float64)
    patterns -= patterns.mean(dim=1, keepdim=True)
    patterns = torch.linalg.qr(patterns.T)[0].T                  # orthonormal spatial patterns
    directions = torch.linalg.qr(torch.randn(c, 3, generator=g, dtype=torch.float64))[0].T
    strengths = torch.tensor([9.0, 4.0, 2.0], dtype=torch.float64)
    feature = (patterns.T * strengths) @ directions              # (h * w, c): three components, variances 81:16:4
    picture, explained = principal_colours(feature.T.reshape(c, h, w).float())
    assert picture.shape == (h, w, 3) and picture.min() >= 0 and picture.max() <= 1
    np.testing.assert_allclose(explained, [81 / 101, 16 / 101, 4 / 101], rtol=1e-4)
    for k in range(3):
        correlation = np.corrcoef(picture[..., k].reshape(-1), patterns[k].numpy())[0, 1]
        assert abs(correlation) > 0.95, (k, correlation)
