"""NMS and RoIAlign as torch custom ops with ONNX translations, for exporting whole detectors.

In PyTorch both ops run mmcv's (our pure-PyTorch ops under mmcv-lite, the compiled ones otherwise), so the
exported module computes what mmdet computes. ``torch.export`` sees them as single nodes (``register_fake``
gives the output shapes; NMS's length depends on the data), and :func:`onnx_translations`, given to
``torch.onnx.export(custom_translation_table=...)``, writes each as one standard ONNX operator:

- ``mambavision::nms`` -> ``NonMaxSuppression`` of one class (class or level offsets are added to the boxes by
  the caller, as mmdet's ``batched_nms`` does), with the score threshold and the maximum count built in.
- ``mambavision::roi_align`` -> ``RoiAlign`` (opset 16) with ``coordinate_transformation_mode='half_pixel'``
  written out: mmcv's ``aligned=True`` shifts sampling points by half a pixel, and ONNX Runtime reads a
  missing attribute as ``output_half_pixel``, the unshifted Caffe2 mode.
"""
import torch

_LIBRARY = 'mambavision'


@torch.library.custom_op(f'{_LIBRARY}::nms', mutates_args=())
def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, score_threshold: float,
        max_count: int) -> torch.Tensor:
    """Indices (int64, best first) of at most ``max_count`` boxes that greedy NMS keeps among those whose score
    is above ``score_threshold``; boxes (N, 4) x1, y1, x2, y2."""
    from mmcv.ops import nms as mmcv_nms
    candidates = torch.nonzero(scores > score_threshold).squeeze(1)
    if candidates.numel() == 0:
        return candidates
    _, keep = mmcv_nms(boxes[candidates], scores[candidates], iou_threshold)
    return candidates[keep[:max_count]]


@nms.register_fake
def _nms_fake(boxes, scores, iou_threshold, score_threshold, max_count):
    count = torch.library.get_ctx().new_dynamic_size(max=max_count)
    return boxes.new_empty((count,), dtype=torch.long)


@torch.library.custom_op(f'{_LIBRARY}::roi_align', mutates_args=())
def roi_align(features: torch.Tensor, rois: torch.Tensor, output_height: int, output_width: int,
              spatial_scale: float, sampling_ratio: int) -> torch.Tensor:
    """mmcv's RoIAlign with ``aligned=True`` and average pooling: (R, C, output_height, output_width) from
    features (N, C, H, W) and rois (R, 5: batch index, x1, y1, x2, y2)."""
    from mmcv.ops import roi_align as mmcv_roi_align
    return mmcv_roi_align(features, rois, (output_height, output_width), spatial_scale, sampling_ratio, 'avg',
                          True)


@roi_align.register_fake
def _roi_align_fake(features, rois, output_height, output_width, spatial_scale, sampling_ratio):
    return features.new_empty((rois.shape[0], features.shape[1], output_height, output_width))


def onnx_translations() -> dict:
    """The ``custom_translation_table`` of ``torch.onnx.export`` for both ops (needs onnxscript)."""
    from onnxscript import FLOAT, INT64, opset18

    def nms_onnx(boxes: FLOAT, scores: FLOAT, iou_threshold: float, score_threshold: float,
                 max_count: int) -> INT64:
        selected = opset18.NonMaxSuppression(
            opset18.Unsqueeze(boxes, [0]), opset18.Unsqueeze(scores, [0, 1]),
            opset18.Constant(value_ints=[max_count]), opset18.Constant(value_floats=[iou_threshold]),
            opset18.Constant(value_floats=[score_threshold]))
        # Rows of (batch, class, box index), best first.
        return opset18.Reshape(opset18.Slice(selected, [2], [3], [1]), [-1])

    def roi_align_onnx(features: FLOAT, rois: FLOAT, output_height: int, output_width: int, spatial_scale: float,
                       sampling_ratio: int) -> FLOAT:
        batch_indices = opset18.Cast(opset18.Reshape(opset18.Slice(rois, [0], [1], [1]), [-1]), to=INT64.dtype)
        boxes = opset18.Slice(rois, [1], [5], [1])
        return opset18.RoiAlign(features, boxes, batch_indices, coordinate_transformation_mode='half_pixel',
                                mode='avg', output_height=output_height, output_width=output_width,
                                sampling_ratio=sampling_ratio, spatial_scale=spatial_scale)

    return {torch.ops.mambavision.nms.default: nms_onnx, torch.ops.mambavision.roi_align.default: roi_align_onnx}
