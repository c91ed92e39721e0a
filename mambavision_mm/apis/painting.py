"""Painting a segmentation: the class colours over the image, region boundaries and a legend."""
from typing import List, Sequence, Tuple

import cv2
import numpy as np


def _legend(image: np.ndarray, entries: List[Tuple[str, Tuple[int, int, int]]]) -> np.ndarray:
    """``image`` (BGR) with a strip below it: a colour swatch and the name of each entry."""
    row, pad = 22, 6
    strip = np.full((pad + row * len(entries), image.shape[1], 3), 255, np.uint8)
    for i, (name, colour) in enumerate(entries):
        top = pad + i * row
        cv2.rectangle(strip, (pad, top), (pad + 16, top + 16), colour, -1)
        cv2.putText(strip, name, (pad + 24, top + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([image, strip], axis=0)


def paint_segmentation(image_bgr: np.ndarray, labels: np.ndarray, classes: Sequence[str], palette,
                       opacity: float = 0.5) -> Tuple[np.ndarray, dict]:
    """The class colours blended over the image with the region boundaries in white, a legend of the classes
    present (by area), and the fraction of the image each of those classes covers."""
    if palette is None:  # fixed colours, the same on every run
        palette = np.random.RandomState(0).randint(0, 256, (len(classes), 3))
    colours = np.asarray(palette, np.uint8)[:, ::-1]  # RGB palette -> BGR
    painted = image_bgr.copy()
    present = [int(c) for c in np.unique(labels) if 0 <= c < len(classes)]
    for c in present:
        area = labels == c
        painted[area] = (image_bgr[area] * (1 - opacity) + colours[c] * opacity).astype(np.uint8)
    boundary = np.zeros(labels.shape, bool)
    boundary[:-1] |= labels[:-1] != labels[1:]
    boundary[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    painted[boundary] = 255
    fractions = {classes[c]: float((labels == c).mean()) for c in present}
    order = sorted(present, key=lambda c: -fractions[classes[c]])
    entries = [(f'{classes[c]} {100 * fractions[classes[c]]:.1f}%', tuple(int(v) for v in colours[c]))
               for c in order]
    return _legend(painted, entries), dict(sorted(fractions.items(), key=lambda kv: -kv[1]))
