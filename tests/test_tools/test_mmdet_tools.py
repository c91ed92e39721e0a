"""Detection end to end on generated data (CPU): our tools, mmdet's own packaged tools and DetInferencer,
with a config that inherits the published MambaVision-T config and a published-style ImageNet checkpoint."""
import glob
import json
import os
import pickle
import sys

import pytest
import torch

from mambavision_mm.testing import CheckpointServer, generate_coco

from ..helpers.checkpoints import checkpoint_weights, code_running_checkpoint, write_imagenet_config
from ..helpers.paths import ROOT, TOY_DET, packaged_tool
from ..helpers.processes import run, run_tool

FAST = ['default_hooks.logger.interval=1', 'randomness.seed=0']


def train(tool, cwd, work_dir, epochs, *extra, ok=True):
    return run_tool([tool, 'toy_imagenet.py', '--work-dir', work_dir, *extra, '--cfg-options',
                     f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}', *FAST], cwd, ok=ok)


@pytest.fixture(scope='module')
def toy_run(tmp_path_factory):
    """Two training images, one epoch with our tools/train.py from a published-style ImageNet file."""
    cwd = tmp_path_factory.mktemp('det')
    generate_coco(str(cwd / 'data/toy_coco'), train=2, val=1)
    write_imagenet_config(cwd, TOY_DET)
    log = train(os.path.join(ROOT, 'tools/train.py'), cwd, 'work', 1)
    return cwd, log


def test_training_on_cpu_from_a_published_imagenet_file(toy_run):
    cwd, log = toy_run
    assert log.count('no CUDA device: automatic mixed precision is switched off') == 1
    assert 'loaded 245/253 backbone tensors from imagenet.pth.tar' in log
    assert 'Epoch(train) [1][1/1]' in log
    # One AdamW step at a learning rate of 2e-5 moves no weight by more than about 1e-4: the trained backbone
    # is still the file's (a freshly initialised one is 0.1 or more away).
    trained = checkpoint_weights(cwd / 'work/epoch_1.pth')
    loaded = torch.load(cwd / 'imagenet.pth.tar', weights_only=False)['state_dict']
    names = [k[len('module.'):] for k in loaded if 'running_' not in k and not k.startswith('module.head')
             and not k.startswith('module.norm.') and not k.endswith('num_batches_tracked')]
    assert len(names) == 215  # the 245 loaded tensors less the BatchNorm statistics, which training moves
    assert max((trained[f'backbone.{k}'] - loaded[f'module.{k}']).abs().max().item() for k in names) < 1e-3


def predictions(path):
    """The instances of each image in a ``--out`` file: boxes, scores and labels as tensors, masks as RLE."""
    with open(path, 'rb') as f:
        return [r['pred_instances'] for r in pickle.load(f)]


@pytest.fixture(scope='module')
def weights_server(toy_run):
    """The trained weights served by URL from 127.0.0.1, with an empty torch hub cache for the tools."""
    cwd, _ = toy_run
    with CheckpointServer(str(cwd / 'work')) as server:
        yield server, {'TORCH_HOME': str(cwd / 'torch_home')}


def test_packaged_test_by_url_and_ours_by_file_print_the_same_predictions(toy_run, weights_server):
    cwd, _ = toy_run
    server, env = weights_server
    # The config's ImageNet file must not be needed for testing: point it at a file that does not exist.
    # After one epoch every mAP is 0.0 on both sides, which proves nothing: the predictions are compared box by
    # box instead, all 20 the toy config keeps (no score threshold).
    options = ['--cfg-options', 'model.test_cfg.rcnn.score_thr=0.0', 'model.backbone.init_cfg.checkpoint=missing.pth']
    theirs = run_tool([packaged_tool('mmdet', 'test.py'), 'toy_imagenet.py', server.url('epoch_1.pth'), *options,
                       '--work-dir', 'test_packaged', '--out', 'theirs.pkl'], cwd, env=env)
    assert server.requests == ['/epoch_1.pth'] and 'downloading http://127.0.0.1' in theirs
    ours = run_tool([os.path.join(ROOT, 'tools/test.py'), 'toy_imagenet.py', 'work/epoch_1.pth', *options,
                     '--work-dir', 'test_ours', '--show-dir', 'painted', '--out', 'ours.pkl'], cwd)
    for out in (theirs, ours):
        assert 'Evaluating bbox' in out and 'Evaluating segm' in out
    metrics = [[line.split('coco/bbox_mAP:')[1] for line in out.splitlines() if 'coco/bbox_mAP:' in line][0]
               .split('data_time')[0] for out in (theirs, ours)]
    assert 'coco/segm_mAP:' in metrics[0] and metrics[0] == metrics[1]
    expected, got = predictions(cwd / 'theirs.pkl'), predictions(cwd / 'ours.pkl')
    assert len(expected) == len(got) == 1 and len(expected[0]['scores']) == 20
    for key in ('bboxes', 'scores', 'labels'):
        torch.testing.assert_close(got[0][key], expected[0][key], rtol=0, atol=0)
    assert got[0]['masks'] == expected[0]['masks']
    # The checkpoint decides them: other weights predict other boxes.
    generator = torch.Generator().manual_seed(0)
    torch.save({'state_dict': {k: v + 0.05 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v
                               for k, v in checkpoint_weights(cwd / 'work/epoch_1.pth').items()}}, cwd / 'moved.pth')
    moved = run_tool([packaged_tool('mmdet', 'test.py'), 'toy_imagenet.py', 'moved.pth', *options,
                      '--work-dir', 'test_moved', '--out', 'moved.pkl'], cwd)
    assert 'Evaluating bbox' in moved
    assert not torch.equal(predictions(cwd / 'moved.pkl')[0]['scores'], expected[0]['scores'])
    assert glob.glob(str(cwd / 'painted/**/*.jpg'), recursive=True), 'no painted prediction images'


@pytest.mark.slow  # one more test run (15 s); --tta is compared option by option with mmdet's in make test
def test_test_time_augmentation_as_mmdet_does_it(toy_run):
    cwd, _ = toy_run
    # Boxes only: mmdet 3.3.0's merge_aug_masks cannot flip a tensor (mmdet's own test.py --tta fails the same).
    out = run_tool([os.path.join(ROOT, 'tools/test.py'), 'toy_imagenet.py', 'work/epoch_1.pth', '--tta', '--out',
                    'tta.pkl', '--work-dir', 'test_tta', '--cfg-options', 'model.test_cfg.rcnn.score_thr=0.0',
                    'model.roi_head.mask_head=None', 'model.roi_head.mask_roi_extractor=None',
                    'test_evaluator.metric=bbox'], cwd)
    assert 'Evaluating bbox' in out
    merged = predictions(cwd / 'tta.pkl')[0]
    # Without --tta the toy config keeps 20 detections (max_per_img); DetTTAModel merges the image's and its
    # flip's 20 each by NMS and keeps up to its own 100.
    assert 20 < len(merged['scores']) <= 40


def test_det_inferencer_with_only_the_config_importing_the_plugin(toy_run, weights_server):
    cwd, _ = toy_run
    server, env = weights_server
    code = ('import sys; from mmdet.apis import DetInferencer; '
            "inferencer = DetInferencer(model='toy_imagenet.py', weights=sys.argv[1], device='cpu'); "
            "result = inferencer('data/toy_coco/val2017/000000.jpg', pred_score_thr=0.0); "
            "print('labels', len(result['predictions'][0]['labels']))")
    for weights in ('work/epoch_1.pth', server.url('epoch_1.pth')):
        out = run_tool(['-c', code, weights], cwd, env=env)
        assert 'labels 20' in out  # test_cfg.rcnn.max_per_img detections
    assert server.requests == ['/epoch_1.pth']  # one download in this module: later uses read the cache


def test_infer_tool_paints_every_readable_image(toy_run):
    cwd, _ = toy_run
    (cwd / 'inputs').mkdir()
    (cwd / 'inputs/notes.jpg').write_text('not an image')
    out = run_tool([os.path.join(ROOT, 'tools/infer.py'), 'toy_imagenet.py', 'work/epoch_1.pth',
                    'data/toy_coco/train2017', 'data/toy_coco/val2017/*.jpg', 'inputs', '--out-dir', 'inferred',
                    '--score-thr', '0.0', '--batch-size', '2'], cwd, ok=False)  # one input skipped: exit 1
    assert 'skipped inputs/notes.jpg: not a readable image' in out
    assert 'wrote 3 painted images' in out
    # train2017/000000.jpg and val2017/000000.jpg share a name: their folders keep them apart
    assert sorted(os.listdir(cwd / 'inferred/vis')) == ['000001.jpg', 'train2017__000000.jpg', 'val2017__000000.jpg']
    record = json.loads((cwd / 'inferred/preds/val2017__000000.json').read_text())
    assert record['image'] == 'data/toy_coco/val2017/000000.jpg' and len(record['instances']) == 20
    assert set(record['instances'][0]) == {'class', 'label', 'score', 'bbox_xyxy', 'mask_rle'}
    assert record['instances'][0]['class'] in ('rectangle', 'ellipse', 'triangle')


def test_infer_tool_errors_are_one_line(toy_run, tmp_path):
    cwd, _ = toy_run
    infer = [os.path.join(ROOT, 'tools/infer.py'), 'toy_imagenet.py']
    out = run_tool([*infer, 'work/epoch_1.pth', 'no/such/dir', '--out-dir', str(tmp_path)], cwd, ok=False)
    assert out.strip().splitlines()[-1] == 'error: input no/such/dir does not exist (not a file, a folder or a ' \
                                           'matching glob)'
    checkpoint = torch.load(cwd / 'work/epoch_1.pth', weights_only=True)
    del checkpoint['state_dict']['neck.fpn_convs.0.conv.weight']
    checkpoint['state_dict']['head.extra'] = torch.zeros(1)
    torch.save(checkpoint, tmp_path / 'other.pth')
    out = run_tool([*infer, str(tmp_path / 'other.pth'), 'data/toy_coco/val2017', '--out-dir', str(tmp_path)],
                   cwd, ok=False)
    assert 'does not fit the config: missing keys 1 (neck.fpn_convs.0.conv.weight), unexpected keys 1 ' \
           '(head.extra), shape mismatches 0 ()' in out.strip().splitlines()[-1]
    url = 'http://127.0.0.1:9/absent/epoch_1.pth'  # port 9 (discard): nothing listens there
    out = run_tool([*infer, url, 'data/toy_coco/val2017', '--out-dir', str(tmp_path)], cwd, ok=False,
                   env={'TORCH_HOME': str(tmp_path / 'torch_home')})
    assert out.strip().splitlines()[-1].startswith(f'error: could not download {url} (')
    assert 'Traceback' not in out and not os.listdir(tmp_path / 'torch_home/hub/checkpoints')


REFUSED = 'evil.pth was refused: loading it would call posix.system, which is not on the allow-list'


@pytest.fixture
def code_running_file(toy_run):
    """The trained weights in a file that runs ``touch evil_ran`` when fully unpickled."""
    cwd, _ = toy_run
    code_running_checkpoint(cwd / 'evil.pth', cwd / 'evil_ran', checkpoint_weights(cwd / 'work/epoch_1.pth'))
    yield cwd
    assert not os.path.exists(cwd / 'evil_ran')


def test_code_running_checkpoint_is_refused_by_mmdet_tools_and_apis(code_running_file):
    cwd = code_running_file
    out = run_tool([packaged_tool('mmdet', 'test.py'), 'toy_imagenet.py', 'evil.pth', '--work-dir', 'evil_test'],
                   cwd, ok=False)
    assert REFUSED in out
    code = ('import mmdet_plugin, sys\n'
            'from mmdet.apis import DetInferencer\n'
            'from mambavision_mm.apis.models import read_config\n'
            'from mambavision_mm.deploy.onnx_export import build_export_module\n'
            'from mambavision_mm.apis.inference import run_inference\n'
            'from mambavision_backbone.errors import UnsafeCheckpointError\n'
            'for name, load in [\n'
            '        ("DetInferencer", lambda: DetInferencer("toy_imagenet.py", "evil.pth", device="cpu")),\n'
            '        ("onnx export", lambda: build_export_module(read_config("toy_imagenet.py"), "evil.pth")),\n'
            '        ("infer", lambda: run_inference("toy_imagenet.py", "evil.pth", ["data"], "evil_out"))]:\n'
            '    try:\n'
            '        load()\n'
            '    except UnsafeCheckpointError as exc:\n'
            '        print(name, "->", exc)\n')
    out = run_tool(['-c', code], cwd)
    for name in ('DetInferencer', 'onnx export', 'infer'):
        assert f'{name} -> {REFUSED}' in out, out


@pytest.mark.slow  # 4 tool starts (30 s); mmdet's test.py and the APIs are refused in make test
def test_code_running_checkpoint_is_refused_by_our_tools_in_one_line(code_running_file):
    cwd = code_running_file
    for tool, args in [('tools/test.py', ['toy_imagenet.py', 'evil.pth', '--work-dir', 'evil_ours']),
                       ('tools/train.py', ['toy_imagenet.py', '--resume', 'evil.pth', '--work-dir', 'evil_resume']),
                       ('tools/infer.py', ['toy_imagenet.py', 'evil.pth', 'data', '--out-dir', 'evil_infer']),
                       ('tools/deployment/pytorch2onnx.py', ['toy_imagenet.py', 'evil.pth', '--out', 'evil.onnx'])]:
        out = run_tool([os.path.join(ROOT, tool), *args], cwd, ok=False)
        assert out.strip().splitlines()[-1].startswith(f'error: {REFUSED}'), (tool, out[-2000:])
    assert not os.path.exists(cwd / 'evil.onnx')


def test_an_imagenet_file_given_as_detector_weights_says_what_it_is(toy_run):
    cwd, _ = toy_run
    out = run_tool([os.path.join(ROOT, 'tools/test.py'), 'toy_imagenet.py', 'imagenet.pth.tar', '--work-dir',
                    'test_imagenet'], cwd, ok=False)
    assert out.strip().splitlines()[-1] == (
        'error: imagenet.pth.tar is not a checkpoint of this CascadeRCNN: it holds a MambaVision-T backbone alone (an '
        'ImageNet classification file?), and nothing for backbone, neck, roi_head, rpn_head; test with the weights '
        'of a trained model (README, model zoo); an ImageNet backbone file belongs in model.backbone.init_cfg')


def test_missing_imagenet_file_stops_training_with_advice(toy_run):
    cwd, _ = toy_run
    out = train(os.path.join(ROOT, 'tools/train.py'), cwd, 'w3', 1,
                '--cfg-options', 'model.backbone.init_cfg.checkpoint=checkpoints/missing.pth.tar', ok=False)
    assert 'pretrained MambaVision checkpoint not found: checkpoints/missing.pth.tar' in out
    assert 'model.backbone.init_cfg=None' in out


@pytest.mark.slow  # 30 s: in make test-all, to keep make test within its 10 minutes
def test_two_process_distributed_training_on_cpu(toy_run):
    cwd, _ = toy_run
    out = run(['bash', os.path.join(ROOT, 'tools/dist_train.sh'), 'toy_imagenet.py', '2', '--work-dir', 'dist',
               '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
               'train_dataloader.batch_size=1', *FAST],
              cwd, env={'PYTHON': sys.executable, 'PORT': '29517', 'OMP_NUM_THREADS': '1'})
    assert 'distributed processes run on the CPU with the gloo backend' in out
    assert 'no CUDA device: SyncBN layers are built as BN' in out
    assert 'Distributed training: True' in out
    assert 'Epoch(train) [1][1/1]' in out  # two images, one per process: one iteration
    assert os.path.exists(cwd / 'dist/epoch_1.pth')
