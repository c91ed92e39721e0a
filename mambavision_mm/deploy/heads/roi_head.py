"""The export of mmdet's standard and cascade RoI heads, with or without masks (Mask R-CNN, Cascade R-CNN,
Cascade Mask R-CNN)."""
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

from .common import batched_nms, check_nms, decode_boxes, is_delta_coder, roi_features
from .registry import register_head_export, unsupported


def roi_stages(roi_head) -> List[dict]:
    """The RoI head's stages as dicts of modules: one for a standard head, one per stage for a cascade."""
    names = ('bbox_roi_extractor', 'bbox_head', 'mask_roi_extractor', 'mask_head')
    if isinstance(roi_head.bbox_head, nn.ModuleList):
        count = len(roi_head.bbox_head)
        return [{name: getattr(roi_head, name)[i] for name in names if getattr(roi_head, name, None) is not None}
                for i in range(count)]
    return [{name: getattr(roi_head, name) for name in names if getattr(roi_head, name, None) is not None}]


@register_head_export('mmdet.models.roi_heads.cascade_roi_head.CascadeRoIHead')
@register_head_export('mmdet.models.roi_heads.standard_roi_head.StandardRoIHead')
class RoIHeadExport:
    """The RoI head of a two-stage detector: its stages' boxes refined in turn, the class logits averaged,
    class-wise NMS; the masks of every stage averaged and pasted. Subclasses compute otherwise (HTC, ...)."""

    def __init__(self, detector, roi_head):
        from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
        check_nms(detector, detector.test_cfg.rcnn)
        self.roi_head = roi_head
        self.stages = roi_stages(roi_head)
        self.with_mask = roi_head.with_mask
        for stage in self.stages:
            for extractor in (stage['bbox_roi_extractor'], stage.get('mask_roi_extractor')):
                if extractor is None:
                    continue
                if not isinstance(extractor, SingleRoIExtractor):
                    raise unsupported(detector, f'the RoI extractor {type(extractor).__name__}')
                for layer in extractor.roi_layers:
                    if not (type(layer).__name__ == 'RoIAlign' and layer.aligned and layer.pool_mode == 'avg'):
                        raise unsupported(detector, f'the RoI layer {layer!r} (only RoIAlign with aligned=True '
                                                    'and pool_mode="avg")')
            head = stage['bbox_head']
            if head.custom_cls_channels or not is_delta_coder(head.bbox_coder):
                raise unsupported(detector, f'the box head {type(head).__name__}')

    def boxes(self, features, proposals, image_shape):
        """The RoI head's ``predict_bbox`` on one image: the stages refine the RoIs, their class logits are
        averaged, the last stage's boxes go through class-wise NMS (``multiclass_nms``)."""
        cfg = self.roi_head.test_cfg
        features = features[:self.stages[0]['bbox_roi_extractor'].num_inputs]
        rois = torch.cat([proposals.new_zeros(proposals.shape[0], 1), proposals], dim=1)
        stage_logits = []
        for index, stage in enumerate(self.stages):
            head = stage['bbox_head']
            cls_score, bbox_pred = head(roi_features(stage['bbox_roi_extractor'], features, rois))
            stage_logits.append(cls_score)
            if index < len(self.stages) - 1:  # the box head's regress_by_class
                deltas = bbox_pred
                if not head.reg_class_agnostic:
                    labels = cls_score[:, :-1].argmax(dim=1, keepdim=True)
                    columns = labels * 4 + torch.arange(4, device=bbox_pred.device)
                    deltas = bbox_pred.gather(1, columns)
                refined = decode_boxes(head.bbox_coder, rois[:, 1:], deltas, image_shape)
                rois = torch.cat([rois[:, :1], refined], dim=1)
        head = self.stages[-1]['bbox_head']
        scores = F.softmax(sum(stage_logits) / float(len(stage_logits)), dim=-1)[:, :-1]
        num_rois, num_classes = scores.shape
        per_class = 1 if head.reg_class_agnostic else head.num_classes
        boxes = decode_boxes(head.bbox_coder, rois[:, 1:].repeat_interleave(per_class, dim=0),
                             bbox_pred.reshape(-1, 4), image_shape)
        boxes = boxes.reshape(num_rois, per_class, 4).expand(num_rois, num_classes, 4).reshape(-1, 4)
        labels = torch.arange(num_classes, device=scores.device).repeat(num_rois)
        scores = scores.reshape(-1)
        keep = batched_nms(boxes, scores, labels, cfg.nms.iou_threshold, float(cfg.score_thr), cfg.max_per_img)
        return boxes[keep], scores[keep], labels[keep]

    def masks(self, features, boxes, labels, image_shape):
        """The RoI head's ``predict_mask``: every stage's mask probabilities averaged, the detection's class
        taken, pasted into the image (mmdet's ``_do_paste_mask``) and thresholded at ``mask_thr_binary``."""
        from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask
        rois = torch.cat([boxes.new_zeros(boxes.shape[0], 1), boxes], dim=1)
        probabilities = []
        for stage in self.stages:
            extractor = stage['mask_roi_extractor']
            logits = stage['mask_head'](roi_features(extractor, features[:extractor.num_inputs], rois))
            probabilities.append(logits.sigmoid())
        probabilities = sum(probabilities) / float(len(probabilities))
        if not self.stages[-1]['mask_head'].class_agnostic:
            probabilities = probabilities.gather(
                1, labels.view(-1, 1, 1, 1).expand(-1, 1, *probabilities.shape[2:]))
        masks, _ = _do_paste_mask(probabilities, boxes, image_shape[0], image_shape[1], skip_empty=False)
        return (masks >= self.roi_head.test_cfg.mask_thr_binary).to(torch.uint8)
