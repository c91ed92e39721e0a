"""The whole-detector export's heads: each registered by the mmdet class it exports, found by the class of the
detector's head, and anything else refused by name."""
import importlib

import pytest

pytest.importorskip('onnx')

from mambavision_mm.apis.inputs import InputError  # noqa: E402
from mambavision_mm.deploy.heads import head_export, supported_heads  # noqa: E402
from mambavision_mm.deploy.heads.anchor_head import AnchorHeadExport  # noqa: E402
from mambavision_mm.deploy.heads.registry import register_head_export, registered_exports  # noqa: E402
from mambavision_mm.deploy.heads.roi_head import RoIHeadExport  # noqa: E402


def test_every_registered_path_is_the_mmdet_class_it_names():
    # mmdet moving or renaming a head fails here, by name, instead of making the head unsupported.
    exports = registered_exports()
    assert exports == {'mmdet.models.dense_heads.anchor_head.AnchorHead': AnchorHeadExport,
                       'mmdet.models.roi_heads.standard_roi_head.StandardRoIHead': RoIHeadExport,
                       'mmdet.models.roi_heads.cascade_roi_head.CascadeRoIHead': RoIHeadExport}
    for path in exports:
        module, name = path.rsplit('.', 1)
        cls = getattr(importlib.import_module(module), name)
        assert f'{cls.__module__}.{cls.__qualname__}' == path
    assert supported_heads() == 'AnchorHead (and subclasses), CascadeRoIHead, StandardRoIHead'


class Detector:
    """Stands for the detector the message names."""


@pytest.mark.parametrize('head_class', ['FCOSHead', 'HybridTaskCascadeRoIHead', 'SparseRoIHead'])
def test_a_head_without_an_export_is_refused_by_name(head_class):
    import mmdet.models
    head = object.__new__(getattr(mmdet.models, head_class))  # the class alone decides; nothing is built
    with pytest.raises(InputError) as refused:
        head_export(Detector(), head)
    assert str(refused.value) == (
        f'Detector: the head {head_class} cannot be exported as a whole detector (supported heads: AnchorHead (and '
        'subclasses), CascadeRoIHead, StandardRoIHead; --features-only exports the backbone and neck of any '
        'detector)')


def test_a_head_is_registered_once():
    with pytest.raises(KeyError, match='StandardRoIHead already has an export: RoIHeadExport'):
        register_head_export('mmdet.models.roi_heads.standard_roi_head.StandardRoIHead')(object)
