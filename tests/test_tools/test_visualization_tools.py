"""visualize_erf.py, visualize_attention.py and visualize_features.py, run as their command lines run them (in this
process: the imports are paid once) on micro det and seg configs, a config with another backbone and a bare arch."""
import json
import os
import runpy
import sys

import cv2
import numpy as np
import pytest
import torch

from mambavision_backbone import MambaVision
from mambavision_mm.testing.checkpoint_server import CheckpointServer

from ..helpers.checkpoints import published_classification
from ..helpers.paths import DATA, MICRO_SEG, ROOT

TOOLS = os.path.join(ROOT, 'tools/analysis_tools')
MICRO_DET_ZOO = os.path.join(DATA, 'zoo/cascade-mask-rcnn_mambavision-micro_toy-zoo.py')
RESNET_SEG = os.path.join(DATA, 'configs/upernet_resnet18-micro_toy-zoo.py')
WITH_ATTENTION = ['--cfg-options', 'model.backbone.depths=(1,1,2,2)']


def run(tool, *args):
    """(exit status, stdout, stderr) of ``tools/analysis_tools/<tool>.py args``."""
    argv = sys.argv
    sys.argv = [os.path.join(TOOLS, f'{tool}.py'), *map(str, args)]
    try:
        runpy.run_path(sys.argv[0], run_name='__main__')
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
    finally:
        sys.argv = argv
    return status


@pytest.fixture(scope='module')
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp('images')
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(150, 200), (170, 210), (140, 190)]):
        image = np.full((h, w, 3), 100, np.uint8)
        cv2.circle(image, (w // 2, h // 2), 40, (30, 160, 230), -1)
        cv2.rectangle(image, (10, 10), (60, 90), (200, 60, 60), -1)
        cv2.imwrite(str(folder / f'img{i}.jpg'), (image + rng.integers(0, 20, image.shape)).astype(np.uint8))
    (folder / 'broken.png').write_bytes(b'not a png')
    return folder


def assert_picture(path):
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 100 and image.shape[1] > 100, path
    assert image.std() > 10, f'{path} is blank'


def test_erf_of_a_segmentor_beside_another_backbone(pictures, tmp_path, capsys):
    out = tmp_path / 'erf'
    images = [pictures / f'img{i}.jpg' for i in range(3)]
    assert run('visualize_erf', MICRO_SEG, '--images', *images, '--out-dir', out, '--num-images', 2,
               '--size', 96, 128, '--compare', RESNET_SEG) == 0
    printed = capsys.readouterr().out
    assert '[2/2]' in printed and '[3/' not in printed
    for prefix in ('', 'compare_'):
        for k in range(1, 5):
            assert_picture(out / f'{prefix}erf_stage{k}.png')
    assert_picture(out / 'erf_grid.png')
    for name in ('erf.json', 'erf_compare.json'):
        ratios = json.loads((out / name).read_text())
        assert list(ratios) == ['stage1', 'stage2', 'stage3', 'stage4']
        for stage in ratios.values():
            assert list(stage) == ['0.2', '0.3', '0.5', '0.99']
            assert 0 < stage['0.2'] <= stage['0.3'] <= stage['0.5'] <= stage['0.99'] <= 1


def test_attention_maps_of_a_detector(pictures, tmp_path):
    out = tmp_path / 'attention'
    assert run('visualize_attention', MICRO_DET_ZOO, pictures / 'img0.jpg', '--out-dir', out, '--point', 40, 150,
               '--per-head', '--save-raw', *WITH_ATTENTION) == 0
    listing = json.loads((out / 'attention.json').read_text())
    assert listing['query'] == {'y': 40.0, 'x': 150.0}
    assert [(b['block'], b['kind']) for b in listing['blocks']] == [
        ('stage3_block0', 'mixer'), ('stage3_block1', 'attention'),
        ('stage4_block0', 'mixer'), ('stage4_block1', 'attention')]
    for block in listing['blocks']:
        assert_picture(out / block['png'])
        raw = np.load(out / block['raw'])
        assert raw.shape == (8, 8) if block['block'].startswith('stage3') else (4, 4)
        if block['kind'] == 'attention':
            assert raw.sum() == pytest.approx(1.0, abs=1e-5)
    assert sorted(os.listdir(tmp_path)) == ['attention']  # no scratch folder left


def test_features_of_a_bare_arch_with_imagenet_weights_by_url(pictures, tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    torch.manual_seed(0)
    model = MambaVision('tiny')
    served = tmp_path / 'served'
    served.mkdir()
    published_classification(model, served / 'mambavision_tiny_1k.pth.tar')
    out = tmp_path / 'features'
    with CheckpointServer(str(served)) as server:
        url = server.url('mambavision_tiny_1k.pth.tar')
        assert run('visualize_features', 'tiny', url, pictures / 'img1.jpg', '--out-dir', out) == 0
        assert run('visualize_features', 'tiny', url, pictures / 'img1.jpg', '--out-dir', tmp_path / 'again') == 0
    assert server.requests == ['/mambavision_tiny_1k.pth.tar']  # the second run read the cache
    shares = json.loads((out / 'features.json').read_text())
    assert {k: v['size'] for k, v in shares.items()} == {
        'stage1': [128, 128], 'stage2': [64, 64], 'stage3': [32, 32], 'stage4': [16, 16]}
    for k in range(1, 5):
        assert_picture(out / f'features_stage{k}.png')
    assert_picture(out / 'features.png')
    # The weights are the served ones: the same picture from the model in this process.
    from mambavision_mm.analysis.feature_pca import principal_colours
    from mambavision_mm.analysis.visual_inputs import Subject, prepare
    subject = Subject(model.eval(), '', (123.675, 116.28, 103.53), (58.395, 57.12, 57.375), True, None)
    with torch.no_grad():
        stage4 = model(prepare(subject, str(pictures / 'img1.jpg')).tensor)[3][0]
    expected = principal_colours(stage4)[1]
    np.testing.assert_allclose(shares['stage4']['explained_variance'], expected, atol=1e-5)


@pytest.mark.parametrize('tool, args, message', [
    ('visualize_attention', [MICRO_SEG, 'missing.jpg'], 'image missing.jpg does not exist'),
    ('visualize_attention', [MICRO_SEG, '{pictures}/broken.png'], 'broken.png cannot be read as an image'),
    ('visualize_attention', [MICRO_SEG, '{pictures}/img0.jpg', '--point', 150, 20],
     'point (y=150, x=20) is outside the image'),
    ('visualize_attention', [RESNET_SEG, '{pictures}/img0.jpg'], 'has a ResNetV1c backbone; the attention maps need'),
    ('visualize_features', ['nosuch.py', '{pictures}/img0.jpg'], 'nosuch.py is neither a config file nor'),
    ('visualize_erf', [MICRO_SEG, '--images', '{pictures}/img0.jpg', '{pictures}/broken.png'],
     'broken.png cannot be read'),
])
def test_bad_input_is_one_line_and_writes_nothing(pictures, tmp_path, capsys, tool, args, message):
    args = [str(a).format(pictures=pictures) for a in args]
    assert run(tool, *args, '--out-dir', tmp_path / 'out') == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith('error: '), err
    assert os.listdir(tmp_path) == []
