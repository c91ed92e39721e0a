"""The whole mmdet detector as one traceable module: image in; boxes, scores, labels (and masks) out.

mmdet's test-time code branches on data (``if rois.shape[0] == 0``, ``if inds.numel() > 0``, top-k of
``min(nms_pre, count)``) and loops over images, which ``torch.export`` cannot follow. This module runs the
same computation on one image with mmdet's own modules (backbone, neck, heads, prior generators, box coders,
level mapping, mask paste) and without such branches:

- a top-k of ``min(k, count)`` becomes a top-k of ``k`` over candidates padded with scores of -inf, which NMS
  drops with everything at or below the score threshold;
- boxes mmdet would remove (too small, below the score threshold) keep their place with a score of -inf;
- NMS and RoIAlign are the custom ops of :mod:`.onnx_ops`, which run mmcv's ops in PyTorch and become
  ``NonMaxSuppression`` and ``RoiAlign`` in ONNX.

Supported: single-stage detectors with an anchor-based dense head (RetinaNet) and two-stage detectors with an
RPN and a standard or cascade RoI head, with or without masks (Mask R-CNN, Cascade Mask R-CNN, Cascade
R-CNN). :func:`check_exportable` names what is not.
"""
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..apis.inputs import InputError
from .onnx_ops import nms, roi_align


def check_exportable(detector: nn.Module) -> None:
    """Raises InputError naming the first part of ``detector`` this export does not cover."""
    from mmdet.models.dense_heads import AnchorHead, RPNHead
    from mmdet.models.roi_heads import CascadeRoIHead, StandardRoIHead
    from mmdet.models.roi_heads.roi_extractors import SingleRoIExtractor
    from mmdet.models.task_modules.coders import DeltaXYWHBBoxCoder

    def require(condition, what):
        if not condition:
            raise InputError(f'{type(detector).__name__}: {what} cannot be exported as a whole detector '
                             '(supported: RetinaNet, Mask R-CNN, Cascade (Mask) R-CNN; --features-only exports '
                             'the backbone and neck of any detector)')
    dense_head = detector.rpn_head if hasattr(detector, 'rpn_head') else getattr(detector, 'bbox_head', None)
    require(isinstance(dense_head, AnchorHead), f'the dense head {type(dense_head).__name__}')
    require(isinstance(dense_head.bbox_coder, DeltaXYWHBBoxCoder),
            f'the box coder {type(dense_head.bbox_coder).__name__}')
    test_cfgs = [detector.test_cfg.rpn, detector.test_cfg.rcnn] if hasattr(detector, 'roi_head') else [
        dense_head.test_cfg]
    for cfg in test_cfgs:
        require(cfg.nms.get('type', 'nms') == 'nms', f'NMS of type {cfg.nms.get("type")!r} (only "nms")')
    if not hasattr(detector, 'roi_head'):
        require(not isinstance(dense_head, RPNHead), 'an RPN without an RoI head')
        return
    roi_head = detector.roi_head
    require(type(roi_head) in (StandardRoIHead, CascadeRoIHead), f'the RoI head {type(roi_head).__name__}')
    for stage in _roi_stages(roi_head):
        for extractor in (stage['bbox_roi_extractor'], stage.get('mask_roi_extractor')):
            if extractor is None:
                continue
            require(isinstance(extractor, SingleRoIExtractor), f'the RoI extractor {type(extractor).__name__}')
            for layer in extractor.roi_layers:
                require(type(layer).__name__ == 'RoIAlign' and layer.aligned and layer.pool_mode == 'avg',
                        f'the RoI layer {layer!r} (only RoIAlign with aligned=True and pool_mode="avg")')
        head = stage['bbox_head']
        require(not head.custom_cls_channels and isinstance(head.bbox_coder, DeltaXYWHBBoxCoder),
                f'the box head {type(head).__name__}')


def _roi_stages(roi_head) -> List[dict]:
    """The RoI head's stages as dicts of modules: one for a standard head, one per stage for a cascade."""
    names = ('bbox_roi_extractor', 'bbox_head', 'mask_roi_extractor', 'mask_head')
    if isinstance(roi_head.bbox_head, nn.ModuleList):
        count = len(roi_head.bbox_head)
        return [{name: getattr(roi_head, name)[i] for name in names if getattr(roi_head, name, None) is not None}
                for i in range(count)]
    return [{name: getattr(roi_head, name) for name in names if getattr(roi_head, name, None) is not None}]


def decode_boxes(coder, priors: torch.Tensor, deltas: torch.Tensor, image_shape) -> torch.Tensor:
    """``DeltaXYWHBBoxCoder.decode`` of (N, 4) deltas: its ``delta2bbox``, called directly because ``decode``
    switches to mmdet 2.x's removed ONNX path while an export runs."""
    from mmdet.models.task_modules.coders.delta_xywh_bbox_coder import delta2bbox
    return delta2bbox(priors, deltas, coder.means, coder.stds, image_shape, clip_border=coder.clip_border,
                      add_ctr_clamp=coder.add_ctr_clamp, ctr_clamp=coder.ctr_clamp)


def batched_nms(boxes, scores, groups, iou_threshold: float, score_threshold: float, max_count: int):
    """mmdet's ``batched_nms``: NMS within each group (class or level) through one NMS of boxes shifted apart by
    group, as mmdet's offsets (``groups * (max coordinate + 1)``, the maximum over the boxes that take part).
    Returns the kept indices, best first, at most ``max_count``."""
    taking_part = scores > score_threshold
    max_coordinate = torch.where(taking_part[:, None], boxes, torch.zeros_like(boxes)).max()
    offsets = groups.to(boxes) * (max_coordinate + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold, score_threshold, max_count)


def _top_candidates(scores: torch.Tensor, count: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(scores, indices) of the ``count`` best of ``scores`` (1-d), padded with -inf where there are fewer:
    mmdet takes the top ``min(count, len(scores))``."""
    padded = torch.cat([scores, scores.new_full((count,), float('-inf'))])
    top_scores, indices = padded.topk(count)
    return top_scores, indices.clamp(max=scores.shape[0] - 1)


def _drop_small(boxes, scores, min_size: float):
    """Scores of boxes no wider or taller than ``min_size`` set to -inf (mmdet's ``min_bbox_size`` filter)."""
    keep = (boxes[:, 2] - boxes[:, 0] > min_size) & (boxes[:, 3] - boxes[:, 1] > min_size)
    return torch.where(keep, scores, torch.full_like(scores, float('-inf')))


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
            scores, pairs = _top_candidates(scores, nms_pre)
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
        scores = _drop_small(boxes, scores, cfg.min_bbox_size)
    groups = torch.cat(all_groups) if proposals else labels
    keep = batched_nms(boxes, scores, groups, cfg.nms.iou_threshold, score_thr, cfg.max_per_img)
    return boxes[keep], scores[keep], labels[keep]


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


def mmdet_detections(detector: nn.Module, image: torch.Tensor) -> dict:
    """mmdet's own inference of one image (1, 3, H, W) float 0-255 BGR, taken as already resized (scale factor
    1): its data preprocessor, then ``predict``. A dict of numpy ``boxes``, ``scores``, ``labels`` (and
    ``masks``), as :class:`DetectorExport`'s outputs are named."""
    from mmdet.structures import DetDataSample
    height, width = image.shape[2:]
    sample = DetDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width),
                                         scale_factor=(1.0, 1.0)))
    with torch.no_grad():
        data = detector.data_preprocessor({'inputs': [image[0]], 'data_samples': [sample]}, False)
        instances = detector.predict(data['inputs'], data['data_samples'], rescale=True)[0].pred_instances
    result = dict(boxes=instances.bboxes.numpy(), scores=instances.scores.numpy(), labels=instances.labels.numpy())
    if 'masks' in instances:
        result['masks'] = instances.masks.numpy().astype(np.uint8)
    return result


class DetectorExport(nn.Module):
    """An mmdet detector on one image: (1, 3, H, W) float32 0-255 in the file's channel order (BGR) in;
    ``boxes`` (N, 4), ``scores`` (N,), ``labels`` (N,) int64 and, with a mask head, ``masks`` (N, H, W) uint8
    out, N <= the test config's ``max_per_img``, boxes in pixels of the input.

    The data preprocessor's channel flip, normalisation and padding to its size divisor are in the module;
    the test config (thresholds, NMS, ``max_per_img``) is read from the detector when it is built.
    """

    def __init__(self, detector: nn.Module, normalise: nn.Module, pad_size_divisor: int = 1,
                 pad_value: float = 0.0):
        super().__init__()
        check_exportable(detector)
        self.detector = detector
        self.normalise = normalise
        self.pad_size_divisor = int(pad_size_divisor)
        self.pad_value = float(pad_value)
        self.two_stage = hasattr(detector, 'roi_head')
        self.with_masks = self.two_stage and detector.roi_head.with_mask

    def output_names(self) -> List[str]:
        return ['boxes', 'scores', 'labels'] + (['masks'] if self.with_masks else [])

    def forward(self, image: torch.Tensor):
        height, width = image.shape[2], image.shape[3]
        x = self.normalise(image)
        divisor = self.pad_size_divisor
        x = F.pad(x, (0, (divisor - width % divisor) % divisor, 0, (divisor - height % divisor) % divisor),
                  value=self.pad_value)
        features = self.detector.extract_feat(x)
        if not self.two_stage:
            head = self.detector.bbox_head
            return dense_head_detections(head, features, (height, width), head.test_cfg, proposals=False)
        proposals, _, _ = dense_head_detections(self.detector.rpn_head, features, (height, width),
                                                self.detector.test_cfg.rpn, proposals=True)
        boxes, scores, labels = self._boxes(features, proposals, (height, width))
        if not self.with_masks:
            return boxes, scores, labels
        return boxes, scores, labels, self._masks(features, boxes, labels, (height, width))

    def _boxes(self, features, proposals, image_shape):
        """The RoI head's ``predict_bbox`` on one image: the stages refine the RoIs, their class logits are
        averaged, the last stage's boxes go through class-wise NMS (``multiclass_nms``)."""
        roi_head = self.detector.roi_head
        cfg = roi_head.test_cfg
        stages = _roi_stages(roi_head)
        features = features[:stages[0]['bbox_roi_extractor'].num_inputs]
        rois = torch.cat([proposals.new_zeros(proposals.shape[0], 1), proposals], dim=1)
        stage_logits = []
        for index, stage in enumerate(stages):
            head = stage['bbox_head']
            cls_score, bbox_pred = head(roi_features(stage['bbox_roi_extractor'], features, rois))
            stage_logits.append(cls_score)
            if index < len(stages) - 1:  # the box head's regress_by_class
                deltas = bbox_pred
                if not head.reg_class_agnostic:
                    labels = cls_score[:, :-1].argmax(dim=1, keepdim=True)
                    columns = labels * 4 + torch.arange(4, device=bbox_pred.device)
                    deltas = bbox_pred.gather(1, columns)
                refined = decode_boxes(head.bbox_coder, rois[:, 1:], deltas, image_shape)
                rois = torch.cat([rois[:, :1], refined], dim=1)
        head = stages[-1]['bbox_head']
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

    def _masks(self, features, boxes, labels, image_shape):
        """The RoI head's ``predict_mask``: every stage's mask probabilities averaged, the detection's class
        taken, pasted into the image (mmdet's ``_do_paste_mask``) and thresholded at ``mask_thr_binary``."""
        from mmdet.models.roi_heads.mask_heads.fcn_mask_head import _do_paste_mask
        roi_head = self.detector.roi_head
        stages = _roi_stages(roi_head)
        rois = torch.cat([boxes.new_zeros(boxes.shape[0], 1), boxes], dim=1)
        probabilities = []
        for stage in stages:
            extractor = stage['mask_roi_extractor']
            logits = stage['mask_head'](roi_features(extractor, features[:extractor.num_inputs], rois))
            probabilities.append(logits.sigmoid())
        probabilities = sum(probabilities) / float(len(probabilities))
        if not stages[-1]['mask_head'].class_agnostic:
            probabilities = probabilities.gather(
                1, labels.view(-1, 1, 1, 1).expand(-1, 1, *probabilities.shape[2:]))
        masks, _ = _do_paste_mask(probabilities, boxes, image_shape[0], image_shape[1], skip_empty=False)
        return (masks >= roi_head.test_cfg.mask_thr_binary).to(torch.uint8)
