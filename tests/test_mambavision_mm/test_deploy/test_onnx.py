"""ONNX export (tools/deployment/pytorch2onnx.py) and ONNX Runtime inference (onnx_infer.py) of the published
T configs, checked against PyTorch at the export size and at an odd size through the dynamic axes."""
import json
import os
import re

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip('onnxscript', reason='ONNX export needs the deploy extra: pip install -e .[deploy]')
ort = pytest.importorskip('onnxruntime', reason='ONNX Runtime is in the deploy extra: pip install -e .[deploy]')

from mambavision_backbone import MambaVision  # noqa: E402
from mambavision_backbone.checkpoint import load_pretrained  # noqa: E402
from mambavision_backbone.scan import relative_error  # noqa: E402

from ...helpers.checkpoints import published_classification  # noqa: E402
from ...helpers.paths import ROOT  # noqa: E402
from ...helpers.processes import run_tool  # noqa: E402

SEG_CONFIG = os.path.join(ROOT, 'configs/mmseg/upernet_mambavision-t_160k_ade20k-512x512.py')
DET_CONFIG = os.path.join(ROOT, 'configs/mmdet/cascade-mask-rcnn_mambavision-t_fpn_3x_coco.py')
EXPORT = os.path.join(ROOT, 'tools/deployment/pytorch2onnx.py')
ONNX_INFER = os.path.join(ROOT, 'tools/deployment/onnx_infer.py')
NO_PRETRAINED = ['--cfg-options', 'model.backbone.init_cfg=None']
SIZES = [(512, 512), (333, 500)]


def build_segmentor():
    from mmengine.config import Config

    from mambavision_mm.apis.models import build_model
    cfg = Config.fromfile(SEG_CONFIG)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = build_model(cfg)
    model.init_weights()
    return model.eval(), cfg


@pytest.fixture(scope='module')
def segmentor_export(tmp_path_factory):
    """The T UPerNet with random weights saved as a checkpoint, exported with dynamic height and width."""
    root = tmp_path_factory.mktemp('seg_onnx')
    model, cfg = build_segmentor()
    checkpoint = root / 'upernet_t_random.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    out = root / 'upernet_t.onnx'
    run_tool([EXPORT, SEG_CONFIG, str(checkpoint), '--out', str(out), '--dynamic', '--no-verify'], root, timeout=600)
    return out, checkpoint, model, cfg


@pytest.mark.slow  # 70 s of export; make test keeps test_onnx_export.py's smaller exports and pooling checks
def test_segmentor_matches_mmseg_at_the_export_size_and_an_odd_size(segmentor_export):
    out, _, model, cfg = segmentor_export
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    preprocessor = cfg.model.data_preprocessor
    mean, std = (torch.tensor(preprocessor[k]).view(1, 3, 1, 1) for k in ('mean', 'std'))
    for height, width in SIZES:
        image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(height)) * 255
        with torch.no_grad():  # mmseg's own 'whole' inference: channel flip, normalisation, encode_decode
            expected = model.encode_decode((image.flip(1) - mean) / std, [dict(img_shape=(height, width))])
        logits = session.run(None, {'image': image.numpy()})[0]
        assert logits.shape == (1, 150, height, width)
        assert relative_error(torch.from_numpy(logits), expected) <= 1e-4


@pytest.mark.slow  # in make test-all: make test stays within its 10 minutes
def test_onnx_infer_paints_what_infer_paints(segmentor_export, tmp_path):
    out, checkpoint, *_ = segmentor_export
    images = tmp_path / 'images'
    images.mkdir()
    rng = np.random.RandomState(0)
    for name, (height, width) in (('a', (301, 203)),):
        image = cv2.GaussianBlur(rng.randint(0, 256, (height, width, 3)).astype(np.uint8), (31, 31), 0)
        cv2.imwrite(str(images / f'{name}.png'), image)
    (images / 'broken.png').write_bytes(b'not an image')
    log = run_tool([ONNX_INFER, str(out), str(images), '--out-dir', 'onnx_out'], tmp_path, ok=False)
    assert 'skipped' in log and 'broken.png' in log
    run_tool([os.path.join(ROOT, 'tools/infer.py'), SEG_CONFIG, str(checkpoint), str(images / 'a.png'),
              '--out-dir', 'torch_out'], tmp_path)
    for name in ('a',):
        onnx_pred = json.loads((tmp_path / 'onnx_out' / 'preds' / f'{name}.json').read_text())
        torch_pred = json.loads((tmp_path / 'torch_out' / 'preds' / f'{name}.json').read_text())
        assert (onnx_pred['height'], onnx_pred['width']) == (torch_pred['height'], torch_pred['width'])
        classes = set(onnx_pred['class_fractions']) | set(torch_pred['class_fractions'])
        assert sum(abs(onnx_pred['class_fractions'].get(c, 0) - torch_pred['class_fractions'].get(c, 0))
                   for c in classes) < 0.01
        painted = cv2.imread(str(tmp_path / 'onnx_out' / 'vis' / f'{name}.jpg'))
        reference = cv2.imread(str(tmp_path / 'torch_out' / 'vis' / f'{name}.jpg'))
        assert painted.shape == reference.shape
        assert np.abs(painted.astype(int) - reference.astype(int)).mean() < 2


@pytest.mark.slow
def test_backbone_from_a_published_checkpoint_with_dynamic_size(tmp_path):
    """The T backbone with its ImageNet windows (14, 7): the number of windows changes with the input size."""
    torch.manual_seed(1)
    backbone = MambaVision('t')
    published_classification(backbone, tmp_path / 'mambavision_tiny_1k.pth.tar')
    out = tmp_path / 'backbone.onnx'
    log = run_tool([EXPORT, SEG_CONFIG, str(tmp_path / 'mambavision_tiny_1k.pth.tar'), '--backbone-only', '--out',
                    str(out), '--dynamic', '--cfg-options', 'model.backbone.window_size=[8,8,14,7]'], tmp_path,
                   timeout=600)
    printed = [float(v) for v in re.findall(r'max relative difference (\S+)', log)]
    assert len(printed) == 2 and max(printed) <= 1e-4, log
    expected_model = MambaVision('t').eval()
    load_pretrained(expected_model, str(tmp_path / 'mambavision_tiny_1k.pth.tar'))
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    assert [o.name for o in session.get_outputs()] == [f'feature_{i}' for i in range(4)]
    for height, width in SIZES:
        x = torch.randn(1, 3, height, width, generator=torch.Generator().manual_seed(width))
        with torch.no_grad():
            expected = expected_model(x)
        outputs = session.run(None, {'image': x.numpy()})
        for output, feature in zip(outputs, expected):
            assert output.shape == tuple(feature.shape)
            assert relative_error(torch.from_numpy(output), feature) <= 1e-4


def test_bad_inputs_are_one_line_errors(tmp_path):
    message = run_tool([EXPORT, SEG_CONFIG, str(tmp_path / 'missing.pth'), '--out', 'x.onnx'], tmp_path, ok=False)
    assert message.strip().splitlines()[-1] == f'error: checkpoint {tmp_path / "missing.pth"} does not exist'
    message = run_tool([ONNX_INFER, str(tmp_path / 'none.onnx'), str(tmp_path), '--out-dir', 'o'], tmp_path,
                       ok=False)
    assert message.strip().splitlines()[-1] == f'error: ONNX file {tmp_path / "none.onnx"} does not exist'
    message = run_tool([EXPORT, DET_CONFIG, '--out', 'x.onnx', *NO_PRETRAINED, 'model.test_cfg.rcnn.nms.type=soft_nms'],
                       tmp_path, ok=False)
    assert message.strip().splitlines()[-1].startswith(
        "error: CascadeRCNN: NMS of type 'soft_nms' (only \"nms\") cannot be exported as a whole detector")
    message = run_tool([EXPORT, SEG_CONFIG, '--features-only', '--out', 'x.onnx', *NO_PRETRAINED], tmp_path, ok=False)
    assert message.strip().splitlines()[-1] == (
        'error: --features-only exports the backbone and neck of a detector; '
        'upernet_mambavision-t_160k_ade20k-512x512.py is an mmseg config (--backbone-only exports its backbone)')
    assert not os.listdir(tmp_path)


@pytest.mark.slow
def test_detector_features_at_800x1280():
    """--features-only at the detection windows (8, 8, 112, 56): 12,544-token Mamba windows in stage 3, the FPN
    maps out (one size: dynamic sizes are checked on the backbone and the whole detectors)."""
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        log = run_tool([EXPORT, DET_CONFIG, '--features-only', '--out', os.path.join(folder, 'det.onnx'),
                        '--shape', '800', '1280', *NO_PRETRAINED], folder, timeout=900)
    printed = [float(v) for v in re.findall(r'max relative difference (\S+)', log)]
    assert len(printed) == 1 and max(printed) <= 1e-4, log


def test_onnx_infer_names_the_input_a_file_should_take(tmp_path):
    """A detector file whose input is not one (1, 3, H, W) float image: one line naming what was expected."""
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node('Identity', ['image'], ['boxes'])], 'g',
                              [helper.make_tensor_value_info('image', TensorProto.UINT8, [1, 'height', 'width', 3])],
                              [helper.make_tensor_value_info('boxes', TensorProto.UINT8, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 18)])
    for key, value in {'part': 'detector', 'classes': '["a"]', 'palette': 'null'}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = f'mambavision.{key}', value
    onnx.save(model, str(tmp_path / 'other.onnx'))
    cv2.imwrite(str(tmp_path / 'a.png'), np.zeros((20, 30, 3), np.uint8))
    message = run_tool([ONNX_INFER, str(tmp_path / 'other.onnx'), str(tmp_path / 'a.png'), '--out-dir', 'o'],
                       tmp_path, ok=False)
    assert message.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'other.onnx'} takes image tensor(uint8) [1, 'height', 'width', 3]; onnx_infer.py runs "
        'files that take one image of shape (1, 3, H, W) float32, as pytorch2onnx.py writes them')
    assert not (tmp_path / 'o').exists()
