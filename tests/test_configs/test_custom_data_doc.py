"""docs/custom_data.md run as written: every command in its order, on data laid out as it says, through mmdet's
and mmseg's own tools, with the templates edited in their first block only."""
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest
import torch

from ..helpers.paths import ROOT

DOC = os.path.join(ROOT, 'docs', 'custom_data.md')
DASHES = '# ' + '-' * 110 + '\n'

pytestmark = pytest.mark.slow


def code_blocks():
    """(language, text) of every fenced block of the doc, in order."""
    return re.findall(r'```(\w*)\n(.*?)```', open(DOC).read(), re.S)


def write_published_stand_ins(folder):
    """Files in the place and layout of the published COCO detector (80 classes) and ADE20K segmentor (150):
    the published T configs' models with random weights."""
    from mmengine.config import Config

    from mambavision_mm.apis.models import build_model
    os.makedirs(folder)
    for config, name in (('mmdet/cascade-mask-rcnn_mambavision-t_fpn_3x_coco.py',
                          'cascade_mask_rcnn_mamba_vision_tiny_3x_coco.pth'),
                         ('mmseg/upernet_mambavision-t_160k_ade20k-512x512.py',
                          'mamba_vision_160k_ade20k-512x512_tiny.pth')):
        cfg = Config.fromfile(os.path.join(ROOT, 'configs', config))
        torch.manual_seed(0)
        torch.save({'meta': {}, 'state_dict': build_model(cfg).state_dict()}, os.path.join(folder, name))


def set_first_block(path, block):
    """The template's text with everything above its dashed line replaced by ``block``."""
    with open(path) as f:
        _, rest = f.read().split(DASHES, 1)
    with open(path, 'w') as f:
        f.write(block + DASHES + rest)


def bash(script, cwd, ok=True):
    path = f'{os.path.dirname(sys.executable)}{os.pathsep}{os.environ["PATH"]}'  # `python` is this interpreter
    result = subprocess.run(['bash', '-e', '-c', script], cwd=cwd, capture_output=True, text=True, timeout=1200,
                            env={**os.environ, 'PATH': path})
    out = result.stdout + result.stderr
    assert (result.returncode == 0) == ok, out[-5000:]
    return out


@pytest.fixture(scope='module')
def walk_through(tmp_path_factory):
    """The doc's commands run in a fresh folder with this repository's tools, configs and environment."""
    root = tmp_path_factory.mktemp('custom_data')
    os.symlink(sys.prefix, root / '.venv')
    os.symlink(os.path.join(ROOT, 'tools'), root / 'tools')
    shutil.copytree(os.path.join(ROOT, 'configs'), root / 'configs')
    write_published_stand_ins(str(root / 'checkpoints'))
    outputs, variables = [], ''
    for language, text in code_blocks():
        if language == 'bash':
            outputs.append((text, bash(variables + text, root)))
            variables += ''.join(line + '\n' for line in text.splitlines() if re.match(r'^[A-Z]+=', line))
        elif language == 'python':
            target, block = text.split('\n', 1)
            set_first_block(root / re.match(r'# (\S+): the first block', target).group(1), block)
    return root, outputs, variables


def output_of(walk_through, command_part):
    matches = [out for text, out in walk_through[1] if command_part in text]
    assert len(matches) == 1, command_part
    return matches[0]


def quoted(kind):
    """The doc's ```text blocks, the lines it promises the tools print."""
    return [text.strip() for language, text in code_blocks() if language == 'text' and text.startswith(kind)]


def test_the_layout_and_every_template_edited_in_its_first_block_only(walk_through):
    root = walk_through[0]
    for path in ('data/my_dataset/annotations/train.json', 'data/my_dataset/val', 'data/my_boxes/train',
                 'data/my_segmentation/images/train', 'data/my_segmentation/labels/val'):
        assert os.path.exists(root / path), path
    for copy in ('my_detector', 'my_boxes_detector'):
        below = [open(root / 'configs/mmdet/custom' / f'{name}.py').read().split(DASHES)[1]
                 for name in (copy, 'cascade-mask-rcnn_mambavision-t_fpn_custom')]
        assert below[0] == below[1]


def test_fine_tuning_the_mask_template_trains_evaluates_and_paints(walk_through):
    root = walk_through[0]
    train = output_of(walk_through, 'train.py configs/mmdet/custom/my_detector.py --work-dir work_dirs/my_detector\n')
    promised, = quoted('load_from ')
    assert promised.split('...')[0] in train  # the one line naming the freshly initialised classifiers
    assert 'do not match exactly' not in train and 'Epoch(val) [1]' in train
    test = output_of(walk_through, '$MMDET/test.py configs/mmdet/custom/my_detector.py')
    assert re.search(r'coco/bbox_mAP: [\d.]+ .*coco/segm_mAP: [\d.]+', test)
    validation = len(os.listdir(root / 'data/my_dataset/val'))
    assert len(glob.glob(str(root / 'work_dirs/my_detector/*/painted/*.jpg'))) == validation
    resumed = output_of(walk_through, '--resume')
    assert 'resumed epoch: 1' in resumed


def test_the_boxes_only_template_reports_box_ap(walk_through):
    train = output_of(walk_through, '$MMDET/train.py configs/mmdet/custom/my_boxes_detector.py')
    assert re.search(r'Epoch\(val\) \[1\]\[1/1\] +coco/bbox_mAP: [\d.]+', train) and 'segm' not in train
    assert 'not in this model, left out: roi_head.mask_head (' in train


def test_boxes_only_data_given_to_the_mask_template_stops_with_the_documented_line(walk_through):
    root, _, variables = walk_through
    config = root / 'configs/mmdet/custom/my_detector_on_boxes.py'
    config.write_text((root / 'configs/mmdet/custom/my_detector.py').read_text().replace(
        "data_root = 'data/my_dataset/'", "data_root = 'data/my_boxes/'"))
    out = bash(variables + '.venv/bin/python $MMDET/train.py configs/mmdet/custom/my_detector_on_boxes.py', root,
               ok=False)
    promised, = quoted('DatasetError')
    assert promised in out.replace(str(root) + '/', '') and 'Epoch(train)' not in out


def test_the_segmentation_template_trains_evaluates_paints_and_exports(walk_through):
    root = walk_through[0]
    train = output_of(walk_through, '$MMSEG/train.py configs/mmseg/custom/my_segmentor.py')
    assert 'load_from checkpoints/mamba_vision_160k_ade20k-512x512_tiny.pth: ' in train
    assert 'decode_head.conv_seg.weight (150, 512, 1, 1) -> (4, 512, 1, 1)' in train
    theirs = output_of(walk_through, '$MMSEG/test.py configs/mmseg/custom/my_segmentor.py')
    ours = output_of(walk_through, 'tools/test.py configs/mmseg/custom/my_segmentor.py')
    metrics = [re.search(r'Iter\(test\) \[1/1\] +(aAcc: .*mIoU: [\d.]+ +mAcc: [\d.]+)', out).group(1)
               for out in (theirs, ours)]
    assert metrics[0] == metrics[1]
    painted = [f for _, _, files in os.walk(root / 'work_dirs/my_segmentor/painted') for f in files
               if f.endswith('.png')]
    assert len(painted) == len(os.listdir(root / 'data/my_segmentation/images/val'))
    export = output_of(walk_through, 'pytorch2onnx.py configs/mmseg/custom/my_segmentor.py')
    assert os.path.getsize(root / 'work_dirs/my_segmentor/segmentor.onnx') > 1e6
    assert 'ONNX Runtime' in export
