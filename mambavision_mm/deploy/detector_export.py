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

The heads are exported by the modules of :mod:`.heads`, each registered by the mmdet class it exports: an
anchor-based dense head (RetinaNet, the RPN) and a standard or cascade RoI head, with or without masks (Mask
R-CNN, Cascade Mask R-CNN, Cascade R-CNN). Building the export names what is not supported.
"""
from typing import List

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .heads import head_export


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
        self.detector = detector
        dense_head = detector.rpn_head if hasattr(detector, 'rpn_head') else getattr(detector, 'bbox_head', None)
        self.dense_head = head_export(detector, dense_head)
        self.roi_head = head_export(detector, detector.roi_head) if hasattr(detector, 'roi_head') else None
        self.normalise = normalise
        self.pad_size_divisor = int(pad_size_divisor)
        self.pad_value = float(pad_value)
        self.with_masks = self.roi_head is not None and self.roi_head.with_mask

    def output_names(self) -> List[str]:
        return ['boxes', 'scores', 'labels'] + (['masks'] if self.with_masks else [])

    def forward(self, image: torch.Tensor):
        height, width = image.shape[2], image.shape[3]
        x = self.normalise(image)
        divisor = self.pad_size_divisor
        x = F.pad(x, (0, (divisor - width % divisor) % divisor, 0, (divisor - height % divisor) % divisor),
                  value=self.pad_value)
        features = self.detector.extract_feat(x)
        if self.roi_head is None:
            return self.dense_head.detections(features, (height, width))
        proposals, _, _ = self.dense_head.detections(features, (height, width))
        boxes, scores, labels = self.roi_head.boxes(features, proposals, (height, width))
        if not self.with_masks:
            return boxes, scores, labels
        return boxes, scores, labels, self.roi_head.masks(features, boxes, labels, (height, width))
