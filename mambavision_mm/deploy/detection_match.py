"""Comparing two sets of detections of one image detection by detection (the exporter's check and the tests).

Two runs of the same detector rarely list their detections in the same order (equal scores, NMS ties), so
the detections are matched: each reference detection, best score first, takes the unmatched candidate of the
same label with the highest box IoU, if that IoU is at least ``min_iou``.
"""
from typing import Dict, Optional

import numpy as np


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(A, B) IoU of x1, y1, x2, y2 boxes."""
    top_left = np.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = np.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(-1)
    area_a = (boxes_a[:, 2:] - boxes_a[:, :2]).clip(0, None).prod(-1)
    area_b = (boxes_b[:, 2:] - boxes_b[:, :2]).clip(0, None).prod(-1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def match_detections(reference: Dict[str, np.ndarray], candidate: Dict[str, np.ndarray], min_iou: float = 0.99,
                     top: Optional[int] = None) -> dict:
    """How well ``candidate`` reproduces ``reference`` (dicts of ``boxes``, ``scores``, ``labels`` and optionally
    ``masks``), over the reference's ``top`` best detections (all by default).

    Returns ``reference`` and ``candidate`` (counts), ``matched`` (count) and ``found`` (fraction of the
    reference's detections considered), and over matched pairs ``box_difference`` (largest coordinate
    difference, pixels), ``score_difference`` (largest) and ``mask_iou`` (mean, when both have masks).
    """
    order = np.argsort(-reference['scores'], kind='stable')[:top]
    ious = box_iou(reference['boxes'][order], candidate['boxes'])
    taken = np.zeros(len(candidate['boxes']), bool)
    pairs = []
    for row, index in enumerate(order):
        same_label = (candidate['labels'] == reference['labels'][index]) & ~taken
        if not same_label.any():
            continue
        best = int(np.argmax(np.where(same_label, ious[row], -1.0)))
        if ious[row, best] >= min_iou:
            taken[best] = True
            pairs.append((index, best))
    result = dict(reference=len(reference['scores']), candidate=len(candidate['scores']), matched=len(pairs),
                  min_iou=min_iou,
                  found=len(pairs) / len(order) if len(order) else 1.0, box_difference=0.0, score_difference=0.0)
    if pairs:
        ref, cand = (np.array(side) for side in zip(*pairs))
        result['box_difference'] = float(np.abs(reference['boxes'][ref] - candidate['boxes'][cand]).max())
        result['score_difference'] = float(np.abs(reference['scores'][ref] - candidate['scores'][cand]).max())
        if 'masks' in reference and 'masks' in candidate:
            a, b = reference['masks'][ref].astype(bool), candidate['masks'][cand].astype(bool)
            union = (a | b).sum((1, 2))
            result['mask_iou'] = float(np.where(union > 0, (a & b).sum((1, 2)) / np.maximum(union, 1), 1.0).mean())
    return result


def describe_match(result: dict) -> str:
    """One line: counts, the fraction found and the differences of matched detections."""
    text = (f"{result['reference']} vs {result['candidate']} detections, {result['found']:.1%} found "
            f"(same label, IoU >= {result['min_iou']}), box difference {result['box_difference']:.2e} px, "
            f"score difference {result['score_difference']:.2e}")
    if 'mask_iou' in result:
        text += f", mean mask IoU {result['mask_iou']:.4f}"
    return text
