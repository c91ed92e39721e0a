"""Batches of random images with ground truth, as a data loader gives them to a detector or segmentor."""
import numpy as np
import torch


def detector_classes(model) -> int:
    """The class count of a two-stage (its first box head) or one-stage detector."""
    head = model.roi_head.bbox_head if hasattr(model, 'roi_head') else model.bbox_head
    return (head[0] if isinstance(head, torch.nn.ModuleList) else head).num_classes


def synthetic_batch(scope, model, size, batch, device, num_gt=5):
    """A batch of random images with ground truth: ``num_gt`` boxes and their masks, or a label map."""
    height, width = size
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, height, width), generator=g, dtype=torch.uint8))
        meta = dict(img_shape=size, ori_shape=size, scale_factor=(1.0, 1.0), pad_shape=size)
        if scope == 'mmdet':
            from mmdet.structures import DetDataSample
            from mmdet.structures.mask import BitmapMasks
            from mmengine.structures import InstanceData
            corners = torch.rand(num_gt, 2, 2, generator=g) * torch.tensor([width, height])
            boxes = torch.cat([corners.min(1).values, corners.max(1).values + 16], 1)
            boxes = boxes.clamp(max=torch.tensor([width, height, width, height]) - 1)
            masks = np.zeros((num_gt, height, width), np.uint8)
            for mask, (x1, y1, x2, y2) in zip(masks, boxes.int().tolist()):
                mask[y1:y2, x1:x2] = 1
            sample = DetDataSample(metainfo=meta)
            classes = detector_classes(model)
            sample.gt_instances = InstanceData(bboxes=boxes, labels=torch.randint(0, classes, (num_gt,), generator=g),
                                               masks=BitmapMasks(masks, height, width))
        else:
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=dict(meta, padding_size=[0, 0, 0, 0]))
            classes = model.decode_head.num_classes
            sample.gt_sem_seg = PixelData(data=torch.randint(0, classes, (1, height, width), generator=g))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)
