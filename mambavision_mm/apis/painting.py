"""Painting predictions: a segmentation (the class colours over the image, region boundaries and a legend) or
detections given as arrays (mmdet's own visualizer, as tools/infer.py paints them), and the JSON record of
detections that tools/infer.py writes."""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np


def _legend(image: np.ndarray, entries: List[Tuple[str, Tuple[int, int, int]]]) -> np.ndarray:
    """``image`` (BGR) with a strip below it: a colour swatch and the name of each entry."""
    row, pad = 22, 6
    strip = np.full((pad + row * len(entries), image.shape[1], 3), 255, np.uint8)
    for i, (name, colour) in enumerate(entries):
        top = pad + i * row
        cv2.rectangle(strip, (pad, top), (pad + 16, top + 16), colour, -1)
        cv2.putText(strip, name, (pad + 24, top + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([image, strip], axis=0)


def paint_segmentation(image_bgr: np.ndarray, labels: np.ndarray, classes: Sequence[str], palette,
                       opacity: float = 0.5) -> Tuple[np.ndarray, dict]:
    """The class colours blended over the image with the region boundaries in white, a legend of the classes
    present (by area), and the fraction of the image each of those classes covers."""
    if palette is None:  # fixed colours, the same on every run
        palette = np.random.RandomState(0).randint(0, 256, (len(classes), 3))
    colours = np.asarray(palette, np.uint8)[:, ::-1]  # RGB palette -> BGR
    painted = image_bgr.copy()
    present = [int(c) for c in np.unique(labels) if 0 <= c < len(classes)]
    for c in present:
        area = labels == c
        painted[area] = (image_bgr[area] * (1 - opacity) + colours[c] * opacity).astype(np.uint8)
    boundary = np.zeros(labels.shape, bool)
    boundary[:-1] |= labels[:-1] != labels[1:]
    boundary[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    painted[boundary] = 255
    fractions = {classes[c]: float((labels == c).mean()) for c in present}
    order = sorted(present, key=lambda c: -fractions[classes[c]])
    entries = [(f'{classes[c]} {100 * fractions[classes[c]]:.1f}%', tuple(int(v) for v in colours[c]))
               for c in order]
    return _legend(painted, entries), dict(sorted(fractions.items(), key=lambda kv: -kv[1]))


def paint_detections(image_bgr: np.ndarray, detections: dict, classes: Sequence[str], palette,
                     score_thr: float) -> np.ndarray:
    """The detections (numpy ``boxes``, ``scores``, ``labels``, optionally ``masks``) scored at least
    ``score_thr``, painted by mmdet's DetLocalVisualizer with the classes and palette."""
    import torch
    from mmdet.structures import DetDataSample
    from mmdet.visualization import DetLocalVisualizer
    from mmengine.structures import InstanceData
    instances = InstanceData(bboxes=torch.from_numpy(detections['boxes']), scores=torch.from_numpy(
        detections['scores']), labels=torch.from_numpy(detections['labels']))
    if 'masks' in detections:
        instances.masks = torch.from_numpy(detections['masks'].astype(bool))
    sample = DetDataSample(pred_instances=instances)
    visualizer = DetLocalVisualizer(name=f'onnx_detections_{id(sample)}')
    visualizer.dataset_meta = dict(classes=tuple(classes), palette=[tuple(c) for c in palette] if palette else None)
    visualizer.add_datasample('image', cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB), data_sample=sample,
                              draw_gt=False, show=False, pred_score_thr=score_thr)
    return cv2.cvtColor(visualizer.get_image(), cv2.COLOR_RGB2BGR)


def mask_rle(mask: np.ndarray) -> dict:
    """A (H, W) mask as COCO run-length encoding with text counts, as mmdet's DetInferencer writes masks."""
    from pycocotools import mask as mask_util
    rle = mask_util.encode(np.asfortranarray(mask[:, :, None].astype(np.uint8)))[0]
    return {'size': rle['size'], 'counts': rle['counts'].decode()}


def detection_record(path: str, boxes, scores, labels, classes: Sequence[str], score_thr: float,
                     masks_rle: Optional[Sequence[dict]] = None) -> dict:
    """The JSON record of tools/infer.py and onnx_infer.py: every detection scored at least ``score_thr`` with
    its class, score, box (x1, y1, x2, y2) and, given ``masks_rle``, its mask as COCO run-length encoding."""
    instances = []
    for i, score in enumerate(scores):
        if score < score_thr:
            continue
        label = int(labels[i])
        instance = {'class': classes[label], 'label': label, 'score': float(score),
                    'bbox_xyxy': [float(v) for v in boxes[i]]}
        if masks_rle is not None:
            instance['mask_rle'] = masks_rle[i]
        instances.append(instance)
    return {'image': path, 'score_thr': score_thr, 'instances': instances}
