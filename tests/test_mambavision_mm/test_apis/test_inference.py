"""Inference helpers: painting a segmentation."""

import numpy as np

from mambavision_mm.apis.painting import paint_segmentation


def test_paint_segmentation_blends_and_lists_classes_by_area():
    image = np.zeros((4, 10, 3), np.uint8)
    labels = np.zeros((4, 10), np.int64)
    labels[:, 7:] = 2
    painted, fractions = paint_segmentation(image, labels, ('a', 'b', 'c'), [(200, 0, 0), (0, 200, 0), (0, 0, 200)])
    assert fractions == {'a': 0.7, 'c': 0.3}
    assert painted[0, 0].tolist() == [0, 0, 100] and painted[0, 9].tolist() == [100, 0, 0]  # BGR, half opacity
    assert painted[0, 6].tolist() == [255, 255, 255]  # the boundary between the two regions
    assert painted.shape == (4 + 6 + 2 * 22, 10, 3)  # two legend rows
