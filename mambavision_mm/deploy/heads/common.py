"""What the head exports share: mmdet's box decoding, NMS per group, top-k and box filters without branches on
data, and RoI feature pooling through the export's RoIAlign."""
from typing import Sequence, Tuple

import torch

from ..onnx_ops import nms, roi_align
from .registry import unsupported


def decode_boxes(coder, priors: torch.Tensor, deltas: torch.Tensor, image_shape) -> torch.Tensor:
    """``DeltaXYWHBBoxCoder.decode`` of (N, 4) deltas: its ``delta2bbox``, called directly because ``decode``
    switches to mmdet 2.x's removed ONNX path while an export runs."""
    from mmdet.models.task_modules.coders.delta_xywh_bbox_coder import delta2bbox
    return delta2bbox(priors, deltas, coder.means, coder.stds, image_shape, clip_border=coder.clip_border,
                      add_ctr_clamp=coder.add_ctr_clamp, ctr_clamp=coder.ctr_clamp)


def is_delta_coder(coder) -> bool:
    """Whether ``coder`` is the box coder :func:`decode_boxes` decodes."""
    from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder
    return isinstance(coder, DeltaXYWHBBoxCoder)


def batched_nms(boxes, scores, groups, iou_threshold: float, score_threshold: float, max_count: int):
    """mmdet's ``batched_nms``: NMS within each group (class or level) through one NMS of boxes shifted apart by
    group, as mmdet's offsets (``groups * (max coordinate + 1)``, the maximum over the boxes that take part).
    Returns the kept indices, best first, at most ``max_count``."""
    taking_part = scores > score_threshold
    max_coordinate = torch.where(taking_part[:, None], boxes, torch.zeros_like(boxes)).max()
    offsets = groups.to(boxes) * (max_coordinate + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold, score_threshold, max_count)


def top_candidates(scores: torch.Tensor, count: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(scores, indices) of the ``count`` best of ``scores`` (1-d), padded with -inf where there are fewer:
    mmdet takes the top ``min(count, len(scores))``."""
    padded = torch.cat([scores, scores.new_full((count,), float('-inf'))])
    top_scores, indices = padded.topk(count)
    return top_scores, indices.clamp(max=scores.shape[0] - 1)


def drop_small(boxes, scores, min_size: float):
    """Scores of boxes no wider or taller than ``min_size`` set to -inf (mmdet's ``min_bbox_size`` filter)."""
    keep = (boxes[:, 2] - boxes[:, 0] > min_size) & (boxes[:, 3] - boxes[:, 1] > min_size)
    return torch.where(keep, scores, torch.full_like(scores, float('-inf')))


def roi_features(extractor, features: Sequence[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
    """SingleRoIExtractor's output: each RoI pooled from the level ``map_roi_levels`` gives it."""
    if torch.compiler.is_exporting():
        # The heads' convolutions would otherwise make the tracer ask whether the count of RoIs (known only
        # when the graph runs) is 0; the graph is the same for 0 RoIs, which ONNX Runtime runs to empty outputs.
        torch._check(rois.shape[0] != 0)
    levels = extractor.map_roi_levels(rois, len(features))
    pooled = features[0].new_zeros(rois.shape[0], extractor.out_channels, *extractor.roi_layers[0].output_size)
    for level, (feature, layer) in enumerate(zip(features, extractor.roi_layers)):
        indices = torch.nonzero(levels == level).squeeze(1)
        values = roi_align(feature, rois[indices], *layer.output_size, float(layer.spatial_scale),
                           int(layer.sampling_ratio))
        pooled = pooled.index_put((indices,), values)
    return pooled


def check_nms(detector, cfg) -> None:
    """InputError unless the test config ``cfg`` asks for plain NMS, the one the export writes."""
    if cfg.nms.get('type', 'nms') != 'nms':
        raise unsupported(detector, f'NMS of type {cfg.nms.get("type")!r} (only "nms")')
