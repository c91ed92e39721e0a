"""The backbone and images the visualisation tools look at.

A subject is an mmdet or mmseg config (the backbone of the model it builds, whatever backbone that is, with the
whole model's checkpoint) or a bare MambaVision arch name (with an ImageNet checkpoint). Images are resized as
the config's test pipeline resizes them (or to a given size; 512x512 for a bare arch) and normalised as the
config's data preprocessor normalises them (ImageNet mean and std, RGB, for a bare arch); no batch padding.
"""
import logging
import os.path as osp
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
import torch
import torch.nn as nn

from mambavision_backbone import MambaVision
from mambavision_backbone.checkpoint import load_pretrained
from mambavision_backbone.variants import ARCH_ALIASES, ARCH_SETTINGS

from ..apis.inputs import InputError
from ..apis.models import build_model, check_checkpoint_path, load_checkpoint, read_config, task_scope, test_resize
from ..engine.checkpoint import RUNNER_CHECKPOINT_ALLOW_LIST

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
ARCH_SIZE = (512, 512)


@dataclass
class Subject:
    """A backbone in eval mode and how its images are prepared; ``label`` names it in pictures."""

    backbone: nn.Module
    label: str
    mean: Sequence[float]
    std: Sequence[float]
    bgr_to_rgb: bool
    resize: Optional[dict]


@dataclass
class PreparedImage:
    """An image as the backbone sees it: ``tensor`` (1, 3, H, W) normalised; ``display`` the same pixels, RGB
    uint8, before normalisation; ``scale`` (sy, sx) maps the original image's pixels to the input's."""

    path: str
    tensor: torch.Tensor
    display: np.ndarray
    scale: Tuple[float, float]
    original_size: Tuple[int, int]

    @property
    def size(self) -> Tuple[int, int]:
        return self.display.shape[:2]


def is_arch_name(source: str) -> bool:
    """Whether ``source`` names a MambaVision variant (and is not a file)."""
    return not osp.exists(source) and source.lower() in set(ARCH_SETTINGS) | set(ARCH_ALIASES)


def load_subject(source: str, checkpoint: Optional[str] = None, cfg_options: Optional[dict] = None) -> Subject:
    """The backbone of the config ``source`` (with the whole model's ``checkpoint``, file or URL) or the
    MambaVision variant it names (with an ImageNet ``checkpoint``); randomly initialised without one."""
    weights = osp.basename(checkpoint) if checkpoint else 'random init'
    if checkpoint:
        check_checkpoint_path(checkpoint)
    if is_arch_name(source):
        backbone = MambaVision(source, drop_path_rate=0.0)
        if checkpoint:
            try:
                load_pretrained(backbone, checkpoint, allow_list=RUNNER_CHECKPOINT_ALLOW_LIST)
            except ValueError as error:
                raise InputError(f'{checkpoint} does not fit MambaVision-{source}: {str(error).splitlines()[0]}') \
                    from None
        backbone.eval()
        return Subject(backbone, f'MambaVision-{source.upper()} ({weights})', IMAGENET_MEAN, IMAGENET_STD,
                       True, None)
    if not osp.isfile(source):
        names = ', '.join(sorted(ARCH_SETTINGS))
        raise InputError(f'{source} is neither a config file nor a MambaVision arch ({names})')
    cfg = read_config(source, cfg_options)
    task_scope(cfg)
    model = build_model(cfg)
    if checkpoint:
        load_checkpoint(model, checkpoint)
    else:
        logger.warning(f'no checkpoint given: the backbone of {source} is randomly initialised')
    preprocessor = cfg.model.get('data_preprocessor', {})
    label = f'{osp.splitext(osp.basename(source))[0]} ({weights})'
    model.backbone.eval()  # some backbones' train() returns None (mmseg's ResNet)
    return Subject(model.backbone, label, preprocessor.get('mean', IMAGENET_MEAN),
                   preprocessor.get('std', IMAGENET_STD), bool(preprocessor.get('bgr_to_rgb', False)),
                   test_resize(cfg))


def read_image(path: str) -> np.ndarray:
    """The BGR image at ``path``; InputError naming it when it is missing or not an image."""
    if not osp.isfile(path):
        raise InputError(f'image {path} does not exist')
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f'image {path} cannot be read as an image')
    return image


def prepare(subject: Subject, path: str, size: Optional[Tuple[int, int]] = None) -> PreparedImage:
    """The image at ``path`` resized to ``size`` (H, W) or as the subject's test pipeline resizes, normalised."""
    original = read_image(path)
    if size is None and subject.resize is None:
        size = ARCH_SIZE
    if size is not None:
        resized = cv2.resize(original, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    elif subject.resize['keep_ratio']:
        resized = mmcv.imrescale(original, tuple(subject.resize['scale']), interpolation='bilinear')
    else:
        resized = mmcv.imresize(original, tuple(subject.resize['scale']), interpolation='bilinear')
    rgb = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    pixels = (rgb if subject.bgr_to_rgb else resized).astype(np.float32)
    normalised = (pixels - np.asarray(subject.mean, np.float32)) / np.asarray(subject.std, np.float32)
    tensor = torch.from_numpy(normalised).permute(2, 0, 1)[None].contiguous()
    scale = (resized.shape[0] / original.shape[0], resized.shape[1] / original.shape[1])
    return PreparedImage(path, tensor, rgb, scale, original.shape[:2])
