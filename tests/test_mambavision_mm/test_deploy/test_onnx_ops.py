"""The NMS and RoIAlign custom ops (mambavision_mm/deploy/onnx_ops.py) exported alone: ONNX Runtime's
NonMaxSuppression and RoiAlign must compute what mmcv's ops compute in PyTorch, and what mmdet's batched_nms
keeps."""
import numpy as np
import pytest
import torch

pytest.importorskip('onnxscript', reason='ONNX export needs the deploy extra: pip install -e .[deploy]')
ort = pytest.importorskip('onnxruntime', reason='ONNX Runtime is in the deploy extra: pip install -e .[deploy]')

from mmcv.ops import roi_align as mmcv_roi_align  # noqa: E402
from mmdet.models.layers import multiclass_nms  # noqa: E402

import mmdet_plugin  # noqa: E402,F401  (mmcv-lite gets our RoIAlign and NMS)
from mambavision_mm.deploy.heads.common import batched_nms  # noqa: E402
from mambavision_mm.deploy.onnx_ops import onnx_translations, roi_align  # noqa: E402


def export(module, args, names, dynamic_shapes, path):
    program = torch.onnx.export(module, args, dynamo=True, input_names=names, dynamic_shapes=dynamic_shapes,
                                custom_translation_table=onnx_translations(), optimize=False, verbose=False)
    program.save(str(path))
    return ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])


def random_boxes(count, size, generator):
    corners = torch.rand(count, 2, generator=generator) * size
    extent = torch.rand(count, 2, generator=generator) * size / 3 + 0.5
    return torch.cat([corners, corners + extent], dim=1)


class RoIAlign(torch.nn.Module):
    def forward(self, features, rois):
        return roi_align(features, rois, 7, 7, 0.25, 0)


def test_roi_align_matches_mmcv_aligned_and_a_half_pixel_shift_is_caught(tmp_path):
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(2, 8, 24, 32, generator=generator)
    boxes = random_boxes(40, 120, generator)
    rois = torch.cat([torch.randint(0, 2, (40, 1), generator=generator).float(), boxes], dim=1)
    dynamic = {'features': {2: torch.export.Dim('height'), 3: torch.export.Dim('width')},
               'rois': {0: torch.export.Dim('rois')}}
    session = export(RoIAlign(), (features, rois), ['features', 'rois'], dynamic, tmp_path / 'roi_align.onnx')
    for count, (height, width) in ((40, (24, 32)), (5, (19, 27))):
        x, r = features[:, :, :height, :width].contiguous(), rois[:count]
        expected = mmcv_roi_align(x, r, (7, 7), 0.25, 0, 'avg', True)
        got = session.run(None, {'features': x.numpy(), 'rois': r.numpy()})[0]
        assert got.shape == (count, 8, 7, 7)
        assert np.abs(got - expected.numpy()).max() < 1e-5
        # What the same RoIs give without the half-pixel offset (ONNX Runtime's default mode): far off.
        unshifted = mmcv_roi_align(x, r + torch.tensor([0, 2.0, 2.0, 2.0, 2.0]), (7, 7), 0.25, 0, 'avg', True)
        assert np.abs(got - unshifted.numpy()).max() > 0.1


class ClassNMS(torch.nn.Module):
    def forward(self, boxes, scores, labels):
        return batched_nms(boxes, scores, labels, 0.5, 0.05, 30)


def test_class_wise_nms_keeps_what_mmdet_keeps_best_first(tmp_path):
    generator = torch.Generator().manual_seed(1)
    # Clusters of overlapping boxes of every class: what NMS removes depends on the classes.
    boxes = random_boxes(20, 200, generator).repeat(15, 1) + torch.randn(300, 4, generator=generator) * 3
    scores = torch.rand(300, generator=generator)
    labels = torch.randint(0, 4, (300,), generator=generator)
    count = torch.export.Dim('count')
    dynamic = {'boxes': {0: count}, 'scores': {0: count}, 'labels': {0: count}}
    session = export(ClassNMS(), (boxes, scores, labels), ['boxes', 'scores', 'labels'], dynamic,
                     tmp_path / 'nms.onnx')
    for n in (300, 17):
        keep = session.run(None, {'boxes': boxes[:n].numpy(), 'scores': scores[:n].numpy(),
                                  'labels': labels[:n].numpy()})[0]
        # mmdet's multiclass_nms on one-hot scores: the same candidates, classes and thresholds.
        one_hot = torch.zeros(n, 5)
        one_hot[torch.arange(n), labels[:n]] = scores[:n]
        detections, kept_labels = multiclass_nms(boxes[:n], one_hot, 0.05, dict(type='nms', iou_threshold=0.5), 30)
        assert len(keep) == len(detections) <= 30
        np.testing.assert_array_equal(scores[:n].numpy()[keep], detections[:, 4].numpy())
        np.testing.assert_array_equal(labels[:n].numpy()[keep], kept_labels.numpy())
    below = session.run(None, {'boxes': boxes.numpy(), 'scores': (scores * 0.05).numpy(),
                               'labels': labels.numpy()})[0]
    assert below.shape == (0,)


def test_rpn_proposals_are_mmdets_with_nms_per_level():
    """The exported RPN's proposals (heads.anchor_head.dense_head_detections) against mmdet's predict_by_feat on
    the same features: the same boxes in the same order, NMS run within each FPN level as mmdet runs it."""
    from mmdet.models.dense_heads import RPNHead
    from mmengine.config import ConfigDict
    from mmengine.registry import init_default_scope

    from mambavision_mm.deploy.heads.anchor_head import dense_head_detections
    init_default_scope('mmdet')  # an earlier test may have left mmseg's scope, where mmdet's coders are unknown
    torch.manual_seed(0)
    cfg = ConfigDict(nms_pre=300, max_per_img=200, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)
    head = RPNHead(in_channels=8, feat_channels=8, test_cfg=cfg,
                   # Anchors of one size on every level: boxes of different levels overlap, so one NMS across
                   # levels would keep fewer of them.
                   anchor_generator=dict(type='AnchorGenerator', scales=[1], ratios=[0.5, 1.0, 2.0],
                                         strides=[4, 8, 16, 32, 64], base_sizes=[48] * 5),
                   bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4, target_stds=[1.0] * 4)).eval()
    features = [torch.randn(1, 8, 64 // 2 ** i, 96 // 2 ** i) for i in range(5)]
    with torch.no_grad():
        boxes, scores, _ = dense_head_detections(head, features, (256, 384), cfg, proposals=True)
        expected = head.predict_by_feat(*head(features), batch_img_metas=[dict(img_shape=(256, 384))], cfg=cfg,
                                        rescale=False)[0]
    assert len(boxes) == len(expected.bboxes) > 100
    torch.testing.assert_close(boxes, expected.bboxes, rtol=0, atol=1e-4)
    torch.testing.assert_close(scores, expected.scores, rtol=0, atol=1e-6)
