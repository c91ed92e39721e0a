"""Feature maps as colour pictures: each position's features projected on the map's three principal components."""
from typing import Tuple

import numpy as np
import torch


def principal_colours(feature: torch.Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """A (C, h, w) map as an (h, w, 3) float picture in [0, 1] (components 1-3 as red, green and blue, each
    stretched between its 1st and 99th percentiles) and the share of the variance each component explains."""
    channels, height, width = feature.shape
    points = feature.detach().double().reshape(channels, -1).T
    points = points - points.mean(dim=0)
    _, singular, basis = torch.linalg.svd(points, full_matrices=False)
    components = min(3, basis.shape[0])
    projected = (points @ basis[:components].T).numpy()
    low, high = np.percentile(projected, [1, 99], axis=0)
    picture = np.zeros((height * width, 3))
    picture[:, :components] = np.clip((projected - low) / np.maximum(high - low, 1e-12), 0, 1)
    variance = (singular ** 2).numpy()
    explained = np.zeros(3)
    explained[:components] = variance[:components] / max(variance.sum(), 1e-30)
    return picture.reshape(height, width, 3), explained
