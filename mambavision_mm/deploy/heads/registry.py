"""The detector heads a whole-detector export supports, each registered by the mmdet class it exports (as
mmdeploy registers a rewriter per head). A new head is one module in this folder, imported by its
``__init__``, whose export class is decorated with :func:`register_head_export`."""
from typing import Callable, Dict, Tuple

import torch.nn as nn

from ...apis.inputs import InputError

# 'module.Class' of an mmdet head -> (its export class, whether subclasses export the same way)
_HEAD_EXPORTS: Dict[str, Tuple[type, bool]] = {}


def class_path(cls: type) -> str:
    return f'{cls.__module__}.{cls.__qualname__}'


def register_head_export(mmdet_class: str, subclasses: bool = False) -> Callable[[type], type]:
    """Register the decorated class as the export of the mmdet head ``mmdet_class`` (its module and class,
    ``'mmdet.models.roi_heads.standard_roi_head.StandardRoIHead'``), and of its subclasses when ``subclasses``
    (they compute the same at test time)."""
    def register(export: type) -> type:
        if mmdet_class in _HEAD_EXPORTS:
            raise KeyError(f'{mmdet_class} already has an export: {_HEAD_EXPORTS[mmdet_class][0].__name__}')
        _HEAD_EXPORTS[mmdet_class] = (export, subclasses)
        return export
    return register


def registered_exports() -> Dict[str, type]:
    """``{'module.Class' of an mmdet head: its export class}``."""
    return {path: export for path, (export, _) in _HEAD_EXPORTS.items()}


def supported_heads() -> str:
    """The registered heads, for messages: 'AnchorHead (and subclasses), StandardRoIHead, ...'."""
    return ', '.join(path.rsplit('.', 1)[1] + (' (and subclasses)' if subclasses else '')
                     for path, (_, subclasses) in sorted(_HEAD_EXPORTS.items()))


def unsupported(detector: nn.Module, what: str) -> InputError:
    """The error for a part of ``detector`` that the export does not cover."""
    return InputError(f'{type(detector).__name__}: {what} cannot be exported as a whole detector (supported heads: '
                      f'{supported_heads()}; --features-only exports the backbone and neck of any detector)')


def head_export(detector: nn.Module, head: nn.Module):
    """The export of ``head`` (a part of ``detector``), checked against the detector's test config; InputError
    naming what is not supported."""
    for depth, cls in enumerate(type(head).__mro__):
        found = _HEAD_EXPORTS.get(class_path(cls))
        if found is not None and (depth == 0 or found[1]):
            return found[0](detector, head)
    raise unsupported(detector, f'the head {type(head).__name__}')
