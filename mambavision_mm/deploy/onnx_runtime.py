"""Running exported MambaVision segmentors and detectors in ONNX Runtime and painting their predictions
(tools/deployment/onnx_infer.py, pytorch2onnx.py's check)."""
import json
import os.path as osp
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mambavision_backbone.scan import relative_error

from ..apis.inputs import InputError, collect_inputs, write_predictions
from ..apis.painting import detection_record, mask_rle, paint_detections, paint_segmentation
from .onnx_export import METADATA_PREFIX


def read_metadata(session) -> dict:
    """The metadata our exporter wrote into the file (without its key prefix)."""
    props = session.get_modelmeta().custom_metadata_map
    return {k[len(METADATA_PREFIX):]: v for k, v in props.items() if k.startswith(METADATA_PREFIX)}


def max_relative_difference(outputs: Sequence[np.ndarray], expected: Sequence[torch.Tensor]) -> float:
    """The largest :func:`~mambavision_backbone.scan.relative_error` over the outputs."""
    return max(relative_error(torch.from_numpy(np.asarray(o)), e) for o, e in zip(outputs, expected))


def onnx_session(path: str, providers: Sequence[str] = ('CPUExecutionProvider',)):
    """An ONNX Runtime session of ``path``; InputError when onnxruntime or the file is missing."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise InputError('onnxruntime is not installed: pip install onnxruntime (the [deploy] extra)') from None
    if not osp.isfile(path):
        raise InputError(f'ONNX file {path} does not exist')
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: not the optimiser's notes on nodes it cannot fold
    return ort.InferenceSession(path, options, providers=list(providers))


def _rescale(image: np.ndarray, resize) -> np.ndarray:
    """mmcv's Resize: keep_ratio fits the image in (long, short) edges; else the exact (w, h) scale."""
    if resize is None:
        return image
    height, width = image.shape[:2]
    if resize['keep_ratio']:
        long_edge, short_edge = max(resize['scale']), min(resize['scale'])
        factor = min(long_edge / max(height, width), short_edge / min(height, width))
        size = (int(width * factor + 0.5), int(height * factor + 0.5))
    else:
        size = tuple(resize['scale'])
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def segment(session, image_bgr: np.ndarray, metadata: dict) -> np.ndarray:
    """Class labels at the image's size, as mmseg's 'whole' inference computes them."""
    resized = _rescale(image_bgr, json.loads(metadata.get('test_resize', 'null')))
    batch = np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)
    logits = torch.from_numpy(session.run(None, {session.get_inputs()[0].name: batch})[0])
    logits = F.interpolate(logits, size=image_bgr.shape[:2], mode='bilinear', align_corners=False)
    return logits[0].argmax(0).numpy()


def detect(session, image_bgr: np.ndarray, metadata: dict) -> dict:
    """An exported detector's ``boxes``, ``scores``, ``labels`` (and ``masks``) of one image, resized as the
    test pipeline resizes it, with the boxes scaled and the masks resized back to the image's own size."""
    resized = _rescale(image_bgr, json.loads(metadata.get('test_resize', 'null')))
    batch = np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)
    names = [output.name for output in session.get_outputs()]
    result = dict(zip(names, session.run(None, {session.get_inputs()[0].name: batch})))
    height, width = image_bgr.shape[:2]
    scale = np.array([resized.shape[1] / width, resized.shape[0] / height] * 2, np.float32)
    result['boxes'] = result['boxes'] / scale
    if 'masks' in result:
        result['masks'] = np.stack([cv2.resize(m, (width, height), interpolation=cv2.INTER_NEAREST)
                                    for m in result['masks']]) if len(result['masks']) else np.zeros(
            (0, height, width), np.uint8)
    return result


def _check_input(session, onnx_file: str) -> None:
    """InputError unless the file takes one (1, 3, H, W) float image, as our exporter writes it."""
    spec = session.get_inputs()
    if len(spec) != 1 or spec[0].type != 'tensor(float)' or len(spec[0].shape) != 4 or spec[0].shape[:2] != [1, 3]:
        found = ', '.join(f'{i.name} {i.type} {i.shape}' for i in spec)
        raise InputError(f'{onnx_file} takes {found}; onnx_infer.py runs files that take one image of shape '
                         '(1, 3, H, W) float32, as pytorch2onnx.py writes them')


def run_onnx_inference(onnx_file: str, inputs: Sequence[str], out_dir: str,
                       providers: Sequence[str] = ('CPUExecutionProvider',),
                       score_thr: float = 0.3) -> Tuple[List[str], List[str]]:
    """Paint and save the predictions of an exported segmentor or detector, as tools/infer.py does (a
    detector's detections scored below ``score_thr`` are left out); returns (written images, skipped inputs)."""
    session = onnx_session(onnx_file, providers)
    files = collect_inputs(inputs)
    metadata = read_metadata(session)
    part = metadata.get('part')
    if part not in ('segmentor', 'detector'):
        raise InputError(f"{onnx_file} holds the {part or 'unknown'!r} part; onnx_infer.py paints the outputs of "
                         'an exported segmentor or whole detector (export without --backbone-only or '
                         '--features-only)')
    _check_input(session, onnx_file)
    classes = json.loads(metadata['classes'])
    palette = json.loads(metadata['palette'])

    def predict(paths):
        for path in paths:
            image = cv2.imread(path, cv2.IMREAD_COLOR)
            if part == 'detector':
                detections = detect(session, image, metadata)
                kept = detections['scores'] >= score_thr  # only the masks written are encoded
                detections = {key: value[kept] for key, value in detections.items()}
                masks_rle = [mask_rle(m) for m in detections['masks']] if 'masks' in detections else None
                yield paint_detections(image, detections, classes, palette, score_thr), detection_record(
                    path, detections['boxes'], detections['scores'], detections['labels'], classes, score_thr,
                    masks_rle)
                continue
            labels = segment(session, image, metadata)
            painted, fractions = paint_segmentation(image, labels, classes, palette)
            yield painted, {'image': path, 'height': int(labels.shape[0]), 'width': int(labels.shape[1]),
                            'class_fractions': fractions}
    return write_predictions(files, predict, out_dir)
