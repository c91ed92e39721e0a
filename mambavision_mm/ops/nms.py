"""Non-maximum suppression in plain PyTorch, with the semantics of mmcv's compiled ``nms``.

Boxes are taken in descending score order (the same ``sort`` call as mmcv's, so that ties fall the same way);
a box is dropped when its IoU with a kept box of higher rank is above the threshold (``offset`` 1 counts box
edges as pixels, as mmdet 1.x did). The result is the kept boxes' indices, best first.

Greedy suppression is sequential by nature; here it runs a block of ranks at a time instead of a box at a time.
A block's boxes are first tested against every box kept before it (once settled, earlier blocks never change);
within the block, the kept set is the fixed point of "kept = not suppressed by a kept box of higher rank",
iterated from the candidates: each round settles at least the next box of every chain of suppressions, so the
rounds number the longest such chain in the block, a handful in practice, and the fixed point is exactly the
greedy result. The IoU tests cost (boxes kept so far + block) x block per block, not every pair.
"""
import torch

# Boxes (ranks) decided together.
BLOCK = 256


def _overlaps_above(rows: torch.Tensor, row_areas: torch.Tensor, cols: torch.Tensor, col_areas: torch.Tensor,
                    iou_threshold: float, offset: int) -> torch.Tensor:
    """(R, C) booleans: IoU(row box, column box) > iou_threshold, computed as mmcv does with rows ranked higher."""
    w = (torch.minimum(rows[:, None, 2], cols[None, :, 2]) - torch.maximum(rows[:, None, 0], cols[None, :, 0])
         + offset).clamp(min=0)
    h = (torch.minimum(rows[:, None, 3], cols[None, :, 3]) - torch.maximum(rows[:, None, 1], cols[None, :, 1])
         + offset).clamp(min=0)
    inter = w * h
    return inter / (row_areas[:, None] + col_areas[None, :] - inter) > iou_threshold


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, offset: int = 0) -> torch.Tensor:
    """Indices (int64) of the boxes (N, 4: x1, y1, x2, y2) that greedy NMS keeps, in descending score order."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    iou_threshold, offset = float(iou_threshold), int(offset)
    order = scores.sort(0, descending=True)[1]
    ranked = boxes[order]
    areas = (ranked[:, 2] - ranked[:, 0] + offset) * (ranked[:, 3] - ranked[:, 1] + offset)
    kept = torch.zeros(len(order), dtype=torch.bool, device=boxes.device)
    kept_boxes, kept_areas = ranked[:0], areas[:0]
    for begin in range(0, len(order), BLOCK):
        block, block_areas = ranked[begin:begin + BLOCK], areas[begin:begin + BLOCK]
        candidates = ~_overlaps_above(kept_boxes, kept_areas, block, block_areas, iou_threshold, offset).any(0)
        within = _overlaps_above(block, block_areas, block, block_areas, iou_threshold, offset).triu(diagonal=1)
        block_kept = candidates
        while True:
            now_kept = candidates & ~within[block_kept].any(0)
            if torch.equal(now_kept, block_kept):
                break
            block_kept = now_kept
        kept[begin:begin + BLOCK] = block_kept
        kept_boxes = torch.cat([kept_boxes, block[block_kept]])
        kept_areas = torch.cat([kept_areas, block_areas[block_kept]])
    return order[kept]
