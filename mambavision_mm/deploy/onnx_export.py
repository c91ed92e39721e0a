"""ONNX export of MambaVision models (tools/deployment/pytorch2onnx.py).

Four parts can be exported from a config:

- ``backbone``: the MambaVision backbone; input the normalised image tensor the backbone receives in PyTorch,
  outputs its four feature maps.
- ``segmentor``: an mmseg EncoderDecoder (UPerNet); input the image as read from disk (B, 3, H, W) float32 in
  0-255 and in the file's channel order (BGR), with the data preprocessor's normalisation inside the graph;
  output the class logits at the input's resolution.
- ``detector``: a whole mmdet detector (:mod:`.detector_export`); input one image as for the segmentor,
  outputs ``boxes``, ``scores``, ``labels`` and, with a mask head, ``masks``; NMS and RoIAlign become
  ONNX's ``NonMaxSuppression`` and ``RoiAlign`` (:mod:`.onnx_ops`).
- ``detector-features``: an mmdet detector's backbone and neck (FPN); input as for the segmentor, outputs the
  neck's feature maps.

With ``dynamic`` the height and width are dynamic axes: the window padding of stages 3 and 4 is computed in
the graph, so one file serves every input size. The selective scan is exported as the few-step PyTorch scan
(standard operators, about 2 * sqrt(L) steps per Mamba block, unrolled). The file's metadata records what
:func:`~mambavision_mm.deploy.onnx_runtime.run_onnx_inference` needs: the part, the classes and palette,
and the test-time resize.
"""
import copy
import json
import logging
import os
import os.path as osp
import time
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.logging import MMLogger

from mambavision_backbone import MambaVision
from mambavision_backbone.checkpoint import load_pretrained

from ..apis.inputs import InputError
from ..apis.models import (
    build_model,
    check_checkpoint_path,
    dataset_meta,
    load_checkpoint,
    task_scope,
    test_resize,
)
from ..engine.checkpoint import RUNNER_CHECKPOINT_ALLOW_LIST
from .detector_export import DetectorExport
from .onnx_ops import onnx_translations

PARTS = ('backbone', 'segmentor', 'detector', 'detector-features')
METADATA_PREFIX = 'mambavision.'


class _Normalise(nn.Module):
    """The data preprocessor's channel flip and normalisation, as graph operators."""

    def __init__(self, preprocessor_cfg):
        super().__init__()
        self.flip = bool(preprocessor_cfg.get('bgr_to_rgb', False) or preprocessor_cfg.get('rgb_to_bgr', False))
        self.register_buffer('mean', torch.tensor(preprocessor_cfg.get('mean', [0.0, 0.0, 0.0])).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor(preprocessor_cfg.get('std', [1.0, 1.0, 1.0])).view(1, 3, 1, 1))

    def forward(self, image):
        if self.flip:
            image = image.flip(1)
        return (image - self.mean) / self.std


class ShapeGenericAdaptiveAvgPool2d(nn.Module):
    """nn.AdaptiveAvgPool2d written with slices whose bounds follow the input size.

    The exporter turns adaptive pooling into gathers at the indices of the example's size, so a file exported
    at 512x512 would pool wrongly (or fail) at any other size. Bin i of s covers [floor(i*H/s), ceil((i+1)*H/s)),
    as in PyTorch, so the values are the same. Only non-negative integer divisions: ONNX rounds a negative
    quotient towards zero, not down.
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)

    def forward(self, x):
        height, width = x.shape[-2:]
        out_h, out_w = self.output_size
        rows = []
        for i in range(out_h):
            top, bottom = (i * height) // out_h, ((i + 1) * height + out_h - 1) // out_h
            cells = []
            for j in range(out_w):
                left, right = (j * width) // out_w, ((j + 1) * width + out_w - 1) // out_w
                cells.append(x[..., top:bottom, left:right].mean(dim=(-2, -1), keepdim=True))
            rows.append(torch.cat(cells, dim=-1))
        return torch.cat(rows, dim=-2)


def _replace_adaptive_pooling(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.AdaptiveAvgPool2d):
            setattr(module, name, ShapeGenericAdaptiveAvgPool2d(child.output_size))
        else:
            _replace_adaptive_pooling(child)


class BackboneExport(nn.Module):
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, image):
        return tuple(self.backbone(image))


class SegmentorExport(nn.Module):
    """Normalise, encode, decode and resize the logits to the input size, as EncoderDecoder's 'whole' mode."""

    def __init__(self, segmentor, preprocessor_cfg):
        super().__init__()
        self.normalise = _Normalise(preprocessor_cfg)
        _replace_adaptive_pooling(segmentor)  # the pyramid pooling of UPerNet
        self.segmentor = segmentor

    def forward(self, image):
        features = self.segmentor.extract_feat(self.normalise(image))
        logits = self.segmentor.decode_head(features)
        return F.interpolate(logits, size=image.shape[2:], mode='bilinear',
                             align_corners=self.segmentor.decode_head.align_corners)


class DetectorFeaturesExport(nn.Module):
    def __init__(self, detector, preprocessor_cfg):
        super().__init__()
        self.normalise = _Normalise(preprocessor_cfg)
        self.detector = detector

    def forward(self, image):
        return tuple(self.detector.extract_feat(self.normalise(image)))


def build_export_module(cfg: Config, checkpoint: Optional[str] = None, backbone_only: bool = False,
                        features_only: bool = False):
    """(module to export, the part's name, metadata) from a config (:func:`~mambavision_mm.apis.models.read_config`)
    and an optional checkpoint.

    Without a checkpoint the model keeps its initial weights (``init_cfg`` included, e.g. a published
    ImageNet backbone). ``backbone_only`` accepts every format the backbone reads (published classification
    files, Hugging Face copies, full mmdet/mmseg checkpoints); the other parts need a checkpoint of the
    whole model, checked key by key. ``features_only`` exports a detector's backbone and neck instead of the
    whole detector.
    """
    if checkpoint is not None:
        check_checkpoint_path(checkpoint)
    scope = task_scope(cfg)
    if features_only and scope != 'mmdet':
        raise InputError(f'--features-only exports the backbone and neck of a detector; {osp.basename(cfg.filename)} '
                         f'is an {scope} config (--backbone-only exports its backbone)')
    cfg = copy.deepcopy(cfg)
    # The graph needs a scan made of standard operators, whatever backend the config asks for.
    cfg.model.backbone.scan_backend = 'torch'
    model = build_model(cfg)
    if checkpoint is None:
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)  # not one message per parameter
        try:
            model.init_weights()  # init_cfg, e.g. the published ImageNet backbone
        except FileNotFoundError as exc:
            raise InputError(f'{exc} (or give a CHECKPOINT)') from None
        finally:
            logger.setLevel(level)
    state = None
    if checkpoint is not None and backbone_only:
        load_pretrained(model.backbone, checkpoint, allow_list=RUNNER_CHECKPOINT_ALLOW_LIST)
    elif checkpoint is not None:
        state = load_checkpoint(model, checkpoint)
    preprocessor = cfg.model.get('data_preprocessor') or {}
    if backbone_only:
        part, module = 'backbone', BackboneExport(model.backbone)
    elif scope == 'mmseg':
        part, module = 'segmentor', SegmentorExport(model, preprocessor)
    elif features_only:
        part, module = 'detector-features', DetectorFeaturesExport(model, preprocessor)
    else:
        part, module = 'detector', DetectorExport(model, _Normalise(preprocessor),
                                                  preprocessor.get('pad_size_divisor', 1),
                                                  preprocessor.get('pad_value', 0))
    metadata = dict(part=part, config=osp.basename(cfg.filename),
                    checkpoint=osp.basename(checkpoint) if checkpoint else 'none (initial weights)')
    if part in ('segmentor', 'detector'):
        meta = dataset_meta(cfg, state)
        metadata.update(classes=json.dumps(list(meta.get('classes', []))),
                        palette=json.dumps([list(map(int, c)) for c in meta.get('palette', [])] or None),
                        test_resize=json.dumps(test_resize(cfg)))
    if part == 'detector':  # the contract: what comes out, and the thresholds baked in
        metadata.update(outputs=json.dumps(module.output_names()), test_cfg=json.dumps(cfg.model.test_cfg))
    return module.eval(), part, metadata


def export_shape(cfg: Config) -> Tuple[int, int]:
    """(H, W) of a typical test image, the size to export at: the short edge of the test resize, squared for a
    segmentor (512x512 for ADE20K), short x long for a detector (800x1333 for COCO); 512x512 without a resize."""
    resize = test_resize(cfg)
    if resize is None:
        return 512, 512
    short_edge, long_edge = min(resize['scale']), max(resize['scale'])
    return (short_edge, long_edge) if cfg.get('default_scope') == 'mmdet' else (short_edge, short_edge)


def traceable_shape(module: nn.Module, shape: Tuple[int, int]) -> Tuple[int, int]:
    """The smallest (H, W) >= ``shape`` at which every window stage pads its map.

    Traced where a stage's map is a whole number of windows, the exporter treats the padding as absent and
    the window count as fixed, and the graph then fails at other sizes; traced where all pad, both stay
    computed in the graph.
    """
    stages = [(4 * 2 ** i, level.window_size) for m in module.modules() if isinstance(m, MambaVision)
              for i, level in enumerate(m.levels) if not level.conv]

    def pads(size):
        return all(-(-size // stride) % window for stride, window in stages)
    height, width = shape
    while not pads(height):
        height += 1
    while not pads(width):
        width += 1
    return height, width


def export_onnx(module: nn.Module, part: str, metadata: dict, out: str, shape: Tuple[int, int],
                dynamic: bool = False, opset: int = 18) -> dict:
    """Export ``module`` at (1, 3, H, W) to ``out`` with the metadata; returns timings and the graph's size.

    With ``dynamic`` the example may be a little larger than ``shape`` (see :func:`traceable_shape`)."""
    if dynamic:
        shape = traceable_shape(module, shape)
    example = torch.rand(1, 3, *shape) * (1.0 if part == 'backbone' else 255.0)
    with torch.no_grad():
        outputs = module(example)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    if part == 'detector':
        output_names = module.output_names()
    elif part == 'segmentor':
        output_names = ['logits']
    else:
        output_names = [f'feature_{i}' for i in range(len(outputs))]
    dynamic_shapes = None
    if dynamic:
        # Below 32 pixels the stride-32 stage would be empty.
        height, width = torch.export.Dim('height', min=32, max=8192), torch.export.Dim('width', min=32, max=8192)
        dynamic_shapes = {'image': {2: height, 3: width}}
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    start = time.perf_counter()
    # onnxscript's graph optimiser takes minutes on these unrolled graphs; ONNX Runtime optimises at load.
    program = torch.onnx.export(module, (example,), dynamo=True, dynamic_shapes=dynamic_shapes,
                                opset_version=opset, input_names=['image'], output_names=output_names,
                                custom_translation_table=onnx_translations(), optimize=False, verbose=False)
    seconds = time.perf_counter() - start
    input_shape = [1, 3, 'height' if dynamic else shape[0], 'width' if dynamic else shape[1]]
    for key, value in dict(metadata, input_shape=json.dumps(input_shape), opset=opset).items():
        program.model.metadata_props[METADATA_PREFIX + key] = str(value)
    # Written under another name and renamed: an interrupted write never leaves a half file at ``out``.
    partial = f'{out}.partial'
    try:
        program.save(partial)
        os.replace(partial, out)
    finally:
        if osp.exists(partial):
            os.remove(partial)
    return dict(seconds=seconds, nodes=len(program.model.graph), size=osp.getsize(out), shape=shape)
