"""Effective receptive fields (ERF) of a backbone's stages, computed as RepLKNet and VMamba compute them.

For every image and stage: the ReLU of the stage's output at its central position, summed over channels, is
differentiated with respect to the input image; the ReLU of that gradient, summed over the image's channels,
is added up over the images. The heat map shows ``log10(x + 1)`` divided by its maximum, and the
high-contribution area ratio at a threshold is the smallest centred square of that scaled map holding the
threshold's share of its total, as a fraction of the input's area (1.0 when only the whole input holds it).
"""
from typing import Callable, Dict, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

THRESHOLDS = (0.2, 0.3, 0.5, 0.99)


def erf_contributions(features: Callable[[torch.Tensor], Sequence[torch.Tensor]],
                      images: Iterable[torch.Tensor]) -> np.ndarray:
    """The summed input-gradient maps, (stages, H, W) float64, of the ``features`` (one map per stage, as a
    backbone returns them) of every (1, 3, H, W) image; all images have the same size."""
    total = None
    for image in images:
        image = image.detach().clone().requires_grad_(True)
        outputs = features(image)
        maps = []
        for k, out in enumerate(outputs):
            h, w = out.shape[-2:]
            central = F.relu(out[:, :, h // 2, w // 2]).sum()
            grad, = torch.autograd.grad(central, image, retain_graph=k < len(outputs) - 1)
            maps.append(F.relu(grad).sum(dim=(0, 1)).double())
        stacked = torch.stack(maps).numpy()
        total = stacked if total is None else total + stacked
    if total is None:
        raise ValueError('the ERF needs at least one image')
    return total


def scaled(contribution: np.ndarray) -> np.ndarray:
    """``log10(x + 1)`` divided by its maximum (all zeros stay zeros): the heat map's values."""
    logged = np.log10(contribution + 1.0)
    peak = logged.max()
    return logged / peak if peak > 0 else logged


def area_ratio(scaled_map: np.ndarray, threshold: float) -> float:
    """The smallest centred square (clipped to the map) holding more than ``threshold`` of the map's total, as a
    fraction of the map's area; 1.0 when no square short of the whole map does."""
    height, width = scaled_map.shape
    total = scaled_map.sum()
    if total <= 0:
        return 1.0
    cy, cx = height // 2, width // 2
    for radius in range(max(height, width) // 2 + 1):
        top, left = max(cy - radius, 0), max(cx - radius, 0)
        square = scaled_map[top:cy + radius + 1, left:cx + radius + 1]
        if square.size == scaled_map.size:
            break
        if square.sum() / total > threshold:
            return square.size / scaled_map.size
    return 1.0


def area_ratios(contributions: np.ndarray, thresholds: Sequence[float] = THRESHOLDS) -> Dict[str, Dict[str, float]]:
    """``{'stage1': {'0.2': ratio, ...}, ...}`` for (stages, H, W) contributions."""
    return {f'stage{k + 1}': {str(t): area_ratio(scaled(c), t) for t in thresholds}
            for k, c in enumerate(contributions)}
