"""The export of mmdet's anchor-based dense heads (``AnchorHead`` and its subclasses: RetinaNet's head, the RPN)."""
from typing import Sequence

import torch

from .common import batched_nms, check_nms, decode_boxes, drop_small, is_delta_coder, top_candidates
from .registry import register_head_export, unsupported


def dense_head_detections(head, features: Sequence[torch.Tensor], image_shape, cfg, proposals: bool):
    """(boxes, scores, labels) of an anchor head on one image, as its ``predict_by_feat``: per level the top
    ``nms_pre`` (anchor, class) pairs above ``score_thr`` (an RPN: the top ``nms_pre`` anchors), decoded,
    filtered by ``min_bbox_size``, then NMS per class (an RPN: per level) and ``max_per_img``."""
    cls_scores, bbox_preds = head(features)
    priors = head.prior_generator.grid_priors([c.shape[-2:] for c in cls_scores], dtype=cls_scores[0].dtype,
                                              device=cls_scores[0].device)
    nms_pre = cfg.get('nms_pre', -1)
    score_thr = float('-inf') if proposals else float(cfg.get('score_thr', 0))
    all_scores, all_labels, all_groups, all_priors, all_deltas = [], [], [], [], []
    for level, (cls_score, bbox_pred, level_priors) in enumerate(zip(cls_scores, bbox_preds, priors)):
        logits = cls_score[0].permute(1, 2, 0).reshape(-1, head.cls_out_channels)
        scores = logits.sigmoid() if head.use_sigmoid_cls else logits.softmax(-1)[:, :-1]
        num_classes = scores.shape[1]
        scores = scores.reshape(-1)
        if not proposals:
            scores = torch.where(scores > score_thr, scores, torch.full_like(scores, float('-inf')))
        if nms_pre > 0:
            scores, pairs = top_candidates(scores, nms_pre)
        else:
            pairs = torch.arange(scores.shape[0], device=scores.device)
        anchors = pairs // num_classes
        all_scores.append(scores)
        all_labels.append(pairs % num_classes)
        all_groups.append(torch.full_like(pairs, level))
        all_priors.append(level_priors[anchors])
        all_deltas.append(bbox_pred[0].permute(1, 2, 0).reshape(-1, head.bbox_coder.encode_size)[anchors])
    boxes = decode_boxes(head.bbox_coder, torch.cat(all_priors), torch.cat(all_deltas), image_shape)
    scores, labels = torch.cat(all_scores), torch.cat(all_labels)
    if cfg.get('min_bbox_size', -1) >= 0:
        scores = drop_small(boxes, scores, cfg.min_bbox_size)
    groups = torch.cat(all_groups) if proposals else labels
    keep = batched_nms(boxes, scores, groups, cfg.nms.iou_threshold, score_thr, cfg.max_per_img)
    return boxes[keep], scores[keep], labels[keep]


@register_head_export('mmdet.models.dense_heads.anchor_head.AnchorHead', subclasses=True)
class AnchorHeadExport:
    """A single-stage detector's anchor head (detections) or a two-stage detector's RPN (proposals, with the
    ``rpn`` test config)."""

    def __init__(self, detector, head):
        from mmdet.models.dense_heads import RPNHead
        if not is_delta_coder(head.bbox_coder):
            raise unsupported(detector, f'the box coder {type(head.bbox_coder).__name__}')
        self.proposals = hasattr(detector, 'roi_head')
        if isinstance(head, RPNHead) and not self.proposals:
            raise unsupported(detector, 'an RPN without an RoI head')
        self.head = head
        self.cfg = detector.test_cfg.rpn if self.proposals else head.test_cfg
        check_nms(detector, self.cfg)

    def detections(self, features: Sequence[torch.Tensor], image_shape):
        """(boxes, scores, labels) of one image: detections, or an RPN's proposals (labels 0)."""
        return dense_head_detections(self.head, features, image_shape, self.cfg, self.proposals)
