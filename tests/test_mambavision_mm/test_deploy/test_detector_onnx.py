"""Whole detectors in ONNX Runtime (tools/deployment/pytorch2onnx.py): Cascade Mask R-CNN, Mask R-CNN and
RetinaNet exported once with dynamic height and width and compared with mmdet's own inference of the same
checkpoint detection by detection, at three sizes; an export whose threshold nothing passes returns empty
outputs; onnx_infer.py paints and records what tools/infer.py does.

The models are the shipped configs with a smaller MambaVision-T (depths 1, 1, 2, 2; windows 8, 8, 14, 7) and a
score threshold of 0: random weights then give the most detections each config allows, many of them close
in score, which is where a difference in NMS, RoIAlign or the cascade would show."""
import json
import os
import re

import numpy as np
import pytest
import torch

pytest.importorskip('onnxscript', reason='ONNX export needs the deploy extra: pip install -e .[deploy]')
ort = pytest.importorskip('onnxruntime', reason='ONNX Runtime is in the deploy extra: pip install -e .[deploy]')

from mambavision_mm.deploy.detection_match import match_detections  # noqa: E402
from mambavision_mm.deploy.detector_export import mmdet_detections  # noqa: E402

from ...helpers.paths import ROOT, TOY_DET  # noqa: E402
from ...helpers.processes import run_tool  # noqa: E402

pytestmark = pytest.mark.slow

EXPORT = os.path.join(ROOT, 'tools/deployment/pytorch2onnx.py')
ONNX_INFER = os.path.join(ROOT, 'tools/deployment/onnx_infer.py')
MICRO = {'model.backbone.init_cfg': None, 'model.backbone.depths': [1, 1, 2, 2],
         'model.backbone.window_size': [8, 8, 14, 7]}
CONFIGS = {
    'cascade-mask-rcnn': (TOY_DET, {'model.test_cfg.rcnn.score_thr': 0.0}),
    'mask-rcnn': (os.path.join(ROOT, 'configs/mmdet/mask-rcnn_mambavision-t_fpn_1x_coco.py'),
                  {'model.test_cfg.rcnn.score_thr': 0.0, 'model.test_cfg.rcnn.max_per_img': 40}),
    'retinanet': (os.path.join(ROOT, 'configs/mmdet/retinanet_mambavision-t_fpn_1x_coco.py'),
                  {'model.test_cfg.score_thr': 0.0}),
}
SIZES = [(224, 288), (301, 199), (160, 160)]


def cfg_options(options):
    """--cfg-options as mmengine's DictAction reads them (None, [1,1,2,2], 0.0)."""
    return ['--cfg-options'] + [f'{k}={str(v).replace(" ", "")}' for k, v in options.items()]


def export(folder, name, options, verify=False):
    """The config's micro model with seeded random weights saved as a checkpoint, exported by the tool with
    --dynamic (and its own check with ``verify``); returns (the ONNX file, the checkpoint, the mmdet model, the
    tool's output)."""
    from mambavision_mm.apis.models import build_model, read_config
    config, settings = CONFIGS[name]
    options = {**MICRO, **settings, **options}
    torch.manual_seed(0)
    model = build_model(read_config(config, options))
    model.init_weights()
    checkpoint = folder / f'{name}.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    out = folder / f'{name}.onnx'
    log = run_tool([EXPORT, config, str(checkpoint), '--out', str(out), '--shape', '224', '288', '--dynamic',
                    *([] if verify else ['--no-verify']), *cfg_options(options)], folder, timeout=900)
    return out, checkpoint, model.eval(), log


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """export() of each config once per module, on first use."""
    files = {}

    def get(name):
        if name not in files:
            # The tool's own check is looked at once, on the cascade.
            files[name] = export(tmp_path_factory.mktemp(name), name, {}, verify=name == 'cascade-mask-rcnn')
        return files[name]
    return get


@pytest.mark.parametrize('name', list(CONFIGS))
def test_onnx_runtime_finds_what_mmdet_finds_at_three_sizes_from_one_file(name, exported):
    out, _, model, log = exported(name)
    if name == 'cascade-mask-rcnn':
        assert re.findall(r'ONNX Runtime vs mmdet at (\d+x\d+): 20 vs 20 detections, 100.0% found', log) == [
            '225x288', '151x241'], log
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    names = [o.name for o in session.get_outputs()]
    assert names == ['boxes', 'scores', 'labels'] + (['masks'] if name != 'retinanet' else [])
    metadata = session.get_modelmeta().custom_metadata_map
    assert json.loads(metadata['mambavision.outputs']) == names
    assert json.loads(metadata['mambavision.test_cfg']) == json.loads(json.dumps(model.test_cfg))
    max_per_img = model.test_cfg.rcnn.max_per_img if name != 'retinanet' else model.bbox_head.test_cfg.max_per_img
    for height, width in SIZES:
        image = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(height)) * 255
        expected = mmdet_detections(model, image)
        outputs = dict(zip(names, session.run(None, {'image': image.numpy()})))
        assert outputs['labels'].dtype == np.int64 and len(outputs['boxes']) <= max_per_img
        if 'masks' in outputs:
            assert outputs['masks'].shape == (len(outputs['boxes']), height, width)
        match = match_detections(expected, outputs)
        assert match['reference'] > 0.5 * max_per_img, match  # enough detections to compare
        assert match['found'] >= 0.95 and match['box_difference'] <= 0.05 and match['score_difference'] <= 1e-3, \
            match
        assert match.get('mask_iou', 1.0) >= 0.99, match


def test_onnx_infer_records_and_paints_what_infer_does(exported, tmp_path):
    """The same image of another size than the test resize through tools/infer.py (PyTorch, mmdet's
    DetInferencer) and onnx_infer.py: the same detections in the original image's pixels."""
    out, checkpoint, *_ = exported('cascade-mask-rcnn')
    cv2 = pytest.importorskip('cv2')
    image = cv2.GaussianBlur(np.random.RandomState(0).randint(0, 256, (300, 200, 3)).astype(np.uint8), (9, 9), 0)
    cv2.imwrite(str(tmp_path / 'a.png'), image)
    run_tool([ONNX_INFER, str(out), str(tmp_path / 'a.png'), '--out-dir', 'onnx_out', '--score-thr', '0'], tmp_path)
    config = tmp_path / 'micro.py'  # tools/infer.py takes no --cfg-options: the same settings as a config
    config.write_text(f"_base_ = [{TOY_DET!r}]\nmodel = dict(backbone=dict(init_cfg=None, depths=[1, 1, 2, 2], "
                      "window_size=[8, 8, 14, 7]), test_cfg=dict(rcnn=dict(score_thr=0.0)))\n")
    run_tool([os.path.join(ROOT, 'tools/infer.py'), str(config), str(checkpoint), str(tmp_path / 'a.png'),
              '--out-dir', 'torch_out', '--score-thr', '0'], tmp_path)
    records = [json.loads((tmp_path / side / 'preds' / 'a.json').read_text())['instances']
               for side in ('torch_out', 'onnx_out')]
    from pycocotools import mask as mask_util
    as_arrays = [dict(boxes=np.array([i['bbox_xyxy'] for i in r], np.float32).reshape(-1, 4),
                      scores=np.array([i['score'] for i in r]), labels=np.array([i['label'] for i in r]),
                      masks=np.stack([mask_util.decode({'size': i['mask_rle']['size'],
                                                        'counts': i['mask_rle']['counts'].encode()}) for i in r]))
                 for r in records]
    # ONNX boxes are scaled back exactly; its masks, pasted at the resized size, are resized back (nearest),
    # where mmdet pastes at the original size: random weights make speckled masks, the worst case for that.
    match = match_detections(*as_arrays, min_iou=0.99)
    assert match['reference'] == 20 and match['found'] >= 0.95 and match['mask_iou'] >= 0.8, match
    assert match['box_difference'] <= 0.05 and match['score_difference'] <= 1e-3, match
    assert {i['class'] for i in records[1]} <= {'rectangle', 'ellipse', 'triangle'}
    painted = cv2.imread(str(tmp_path / 'onnx_out' / 'vis' / 'a.jpg'))
    reference = cv2.imread(str(tmp_path / 'torch_out' / 'vis' / 'a.jpg'))
    assert painted.shape == reference.shape == image.shape
    # Both painted by mmdet's visualizer (its mask colours are jittered at random: not compared pixel by pixel).
    assert np.abs(painted.astype(int) - image.astype(int)).mean() > 10


def test_an_image_without_detections_gives_empty_outputs(tmp_path):
    out, *_ = export(tmp_path, 'cascade-mask-rcnn', {'model.test_cfg.rcnn.score_thr': 1.0})
    session = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    outputs = session.run(None, {'image': np.random.RandomState(0).rand(1, 3, 200, 250).astype(np.float32) * 255})
    assert [o.shape for o in outputs] == [(0, 4), (0,), (0,), (0, 200, 250)]
