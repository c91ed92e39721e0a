"""Running exported MambaVision segmentors in ONNX Runtime and painting their predictions
(tools/deployment/onnx_infer.py, pytorch2onnx.py's check)."""
import json
import os.path as osp
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..apis.inputs import InputError, collect_inputs, write_predictions
from ..apis.painting import paint_segmentation
from .onnx_export import METADATA_PREFIX


def read_metadata(session) -> dict:
    """The metadata our exporter wrote into the file (without its key prefix)."""
    props = session.get_modelmeta().custom_metadata_map
    return {k[len(METADATA_PREFIX):]: v for k, v in props.items() if k.startswith(METADATA_PREFIX)}


def max_relative_difference(outputs: Sequence[np.ndarray], expected: Sequence[torch.Tensor]) -> float:
    """The largest |a - b| / max|b| over the outputs."""
    return max(float(np.abs(o - e.numpy()).max() / max(np.abs(e.numpy()).max(), 1e-12))
               for o, e in zip(outputs, expected))


def onnx_session(path: str, providers: Sequence[str] = ('CPUExecutionProvider',)):
    """An ONNX Runtime session of ``path``; InputError when onnxruntime or the file is missing."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise InputError('onnxruntime is not installed: pip install -e .[deploy]') from None
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


def run_onnx_inference(onnx_file: str, inputs: Sequence[str], out_dir: str,
                       providers: Sequence[str] = ('CPUExecutionProvider',)) -> Tuple[List[str], List[str]]:
    """Paint and save the predictions of an exported segmentor, as tools/infer.py does; returns
    (written images, skipped inputs)."""
    session = onnx_session(onnx_file, providers)
    files = collect_inputs(inputs)
    metadata = read_metadata(session)
    if metadata.get('part') != 'segmentor':
        raise InputError(f"{onnx_file} holds the {metadata.get('part', 'unknown')!r} part; onnx_infer.py paints "
                         'the outputs of an exported segmentor (export without --backbone-only from an mmseg '
                         'config)')
    classes = json.loads(metadata['classes'])
    palette = json.loads(metadata['palette'])

    def predict(paths):
        for path in paths:
            image = cv2.imread(path, cv2.IMREAD_COLOR)
            labels = segment(session, image, metadata)
            painted, fractions = paint_segmentation(image, labels, classes, palette)
            yield painted, {'image': path, 'height': int(labels.shape[0]), 'width': int(labels.shape[1]),
                            'class_fractions': fractions}
    return write_predictions(files, predict, out_dir)
