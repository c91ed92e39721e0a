"""NMS in PyTorch against what mmcv's compiled kernel kept (tests/data/mmcv_ops_reference.pt)."""
import os

import pytest
import torch

from mambavision_mm.ops import nms

from ...helpers.paths import DATA

REFERENCE = torch.load(os.path.join(DATA, 'mmcv_ops_reference.pt'), weights_only=True)


@pytest.mark.parametrize('case', REFERENCE['nms'],
                         ids=lambda c: f"{len(c['boxes'])}boxes-iou{c['iou_threshold']}-offset{c['offset']}")
def test_kept_indices_and_their_order_equal_mmcv_compiled(case):
    """0 to 1,500 boxes, tied scores, identical and zero-area boxes, three thresholds, offset 0 and 1."""
    keep = nms(case['boxes'], case['scores'], case['iou_threshold'], case['offset'])
    assert keep.dtype == torch.long
    assert keep.tolist() == case['keep'].tolist()


def greedy(boxes, scores, iou_threshold):
    """Textbook greedy NMS, one box at a time (slow, obviously right)."""
    order = scores.sort(0, descending=True)[1].tolist()
    keep = []
    for i in order:
        box = boxes[i]
        if all(iou(box, boxes[k]) <= iou_threshold for k in keep):
            keep.append(i)
    return keep


def iou(a, b):
    w = (torch.minimum(a[2], b[2]) - torch.maximum(a[0], b[0])).clamp(min=0)
    h = (torch.minimum(a[3], b[3]) - torch.maximum(a[1], b[1])).clamp(min=0)
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_long_chains_of_suppression_are_resolved_exactly():
    """Boxes sliding one step at a time: each suppresses the next, so the kept set alternates; the fixed point
    needs as many rounds as the chain is long."""
    x = torch.arange(60, dtype=torch.float32) * 2
    boxes = torch.stack([x, torch.zeros(60), x + 10, torch.ones(60) * 10], 1)
    scores = torch.linspace(1, 0.1, 60)
    keep = nms(boxes, scores, 0.6)  # neighbours overlap 0.67, every second box 0.43
    assert keep.tolist() == greedy(boxes, scores, 0.6) == list(range(0, 60, 2))


def test_ten_thousand_boxes():
    generator = torch.Generator().manual_seed(1)
    corner = torch.rand(10000, 2, generator=generator) * 1000
    boxes = torch.cat([corner, corner + torch.rand(10000, 2, generator=generator) * 100 + 1], 1)
    scores = torch.rand(10000, generator=generator)
    keep = nms(boxes, scores, 0.5)
    kept = boxes[keep]
    # No two kept boxes overlap above the threshold, and every dropped box overlaps a kept box of higher score.
    x1, y1, x2, y2 = kept.unbind(1)
    w = (torch.minimum(x2[:, None], x2[None]) - torch.maximum(x1[:, None], x1[None])).clamp(min=0)
    h = (torch.minimum(y2[:, None], y2[None]) - torch.maximum(y1[:, None], y1[None])).clamp(min=0)
    area = (x2 - x1) * (y2 - y1)
    overlaps = w * h / (area[:, None] + area[None] - w * h)
    assert (overlaps.fill_diagonal_(0) <= 0.5).all()
    assert (scores[keep][:-1] >= scores[keep][1:]).all() and 1000 < len(keep) < 10000


def test_an_iou_equal_to_the_threshold_does_not_suppress():
    """mmcv suppresses above the threshold only: box 1 overlaps box 0 by exactly 0.5 and stays, box 2 by 0.51."""
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 5.1]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]  # what mmcv's compiled kernel keeps
