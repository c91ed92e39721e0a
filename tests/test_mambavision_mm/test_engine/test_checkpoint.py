"""Loading checkpoints through mmengine's own loader: weights-only with an allow-list, never a full unpickle."""
import argparse
import datetime
import io
import zipfile
from collections import OrderedDict

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

import mambavision_mm  # noqa: F401  (replaces the loader)
from mambavision_backbone.checkpoint import CHECKPOINT_ALLOW_LIST
from mambavision_backbone.errors import UnsafeCheckpointError
from mambavision_mm.engine.checkpoint import RUNNER_CHECKPOINT_ALLOW_LIST
from mambavision_mm.testing import CheckpointServer

from ...helpers.checkpoints import RunsCommand, mmengine_checkpoint
from ...helpers.processes import run_tool


def as_numpy1_file(checkpoint, path):
    """``torch.save`` as under numpy 1.x, which pickles numpy's globals as numpy.core.multiarray.*."""
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    with zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename.endswith('data.pkl'):
                assert b'numpy._core.multiarray' in data
                data = data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray')
            target.writestr(info, data)


@pytest.mark.parametrize('numpy1', [False, True])
def test_mmengine_checkpoints_load_safely_through_mmengine(tmp_path, package_logs, numpy1):
    path = str(tmp_path / 'epoch_36.pth')
    if numpy1:
        as_numpy1_file(mmengine_checkpoint(), path)
    else:
        torch.save(mmengine_checkpoint(), path)
    checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert torch.equal(checkpoint['state_dict']['backbone.outnorm0.weight'], torch.ones(80))
    assert checkpoint['message_hub']['log_scalars']['train/loss'].mean() == 0.75
    assert checkpoint['message_hub']['runtime_info']['eta'] == 2.5


def test_published_style_mmengine_file_loads_by_url_through_mmengine(tmp_path, monkeypatch):
    """What a published detector file is: written by an mmengine runner under numpy 1.x, served over HTTP."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    as_numpy1_file(mmengine_checkpoint(), tmp_path / 'cascade_mask_rcnn_mamba_vision_tiny_3x_coco.pth')
    with CheckpointServer(str(tmp_path)) as server:
        for _ in range(2):
            checkpoint = CheckpointLoader.load_checkpoint(server.url('cascade_mask_rcnn_mamba_vision_tiny_3x_coco.pth'))
            assert checkpoint['message_hub']['log_scalars']['train/loss'].mean() == 0.75
    assert server.requests == ['/cascade_mask_rcnn_mamba_vision_tiny_3x_coco.pth']


def test_a_code_running_file_by_url_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    (tmp_path / 'files').mkdir()
    torch.save({'meta': RunsCommand(f'touch {tmp_path / "marker"}')}, tmp_path / 'files/evil.pth')
    with CheckpointServer(str(tmp_path / 'files')) as server:
        with pytest.raises(UnsafeCheckpointError, match='evil.pth was refused: loading it would call posix.system'):
            CheckpointLoader.load_checkpoint(server.url('evil.pth'))
    assert not (tmp_path / 'marker').exists()


def test_a_fresh_process_loads_them_safely(tmp_path):
    """No HistoryBuffer exists yet where test.py or --resume loads a checkpoint: its statistics must still load."""
    path = tmp_path / 'epoch_36.pth'
    torch.save(mmengine_checkpoint(), path)
    code = ('import sys, mambavision_mm; from mmengine.runner.checkpoint import CheckpointLoader; '
            'hub = CheckpointLoader.load_checkpoint(sys.argv[1])["message_hub"]; '
            'print("mean loss", hub["log_scalars"]["train/loss"].mean())')
    out = run_tool(['-c', code, str(path)], tmp_path)
    assert 'mean loss 0.75' in out


class _Reach:
    """Pickles as getattr(owner, name): the kind of call a weights-only load must refuse but for the
    statistics methods of HistoryBuffer."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


@pytest.mark.parametrize('owner, name', [(OrderedDict, 'fromkeys'), (HistoryBuffer, 'register_statistics')])
def test_getattr_is_allowed_for_history_buffer_statistics_only(tmp_path, owner, name):
    torch.save({'x': _Reach(owner, name)}, tmp_path / 'reach.pth')
    with pytest.raises(UnsafeCheckpointError, match=rf"would call getattr\(.*{owner.__name__}, '{name}'\)"):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'reach.pth'))
    torch.save({'x': _Reach(HistoryBuffer, 'mean')}, tmp_path / 'mean.pth')
    assert CheckpointLoader.load_checkpoint(str(tmp_path / 'mean.pth'))['x'] is HistoryBuffer.mean


def test_published_imagenet_file_loads_safely(tmp_path, package_logs):
    path = str(tmp_path / 'mambavision_tiny_1k.pth.tar')
    torch.save({'state_dict': {'levels.0.blocks.0.conv1.weight': torch.zeros(1)}, 'epoch': 310,
                'args': argparse.Namespace(lr=1e-3, model='mamba_vision_T')}, path)
    checkpoint = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    assert checkpoint['args'].model == 'mamba_vision_T' and checkpoint['epoch'] == 310
    assert not package_logs


@pytest.mark.parametrize('legacy_format', [False, True])
def test_code_running_checkpoint_is_refused_with_the_way_out(tmp_path, legacy_format):
    path, marker = tmp_path / 'evil.pth', tmp_path / 'marker'
    torch.save({'state_dict': {'a': torch.zeros(1)}, 'args': argparse.Namespace(lr=1),
                'meta': RunsCommand(f'touch {marker}')}, path, _use_new_zipfile_serialization=not legacy_format)
    with pytest.raises(UnsafeCheckpointError) as error:
        CheckpointLoader.load_checkpoint(str(path))
    message = str(error.value)
    assert '\n' not in message and message.startswith(f'{path} was refused: loading it would call posix.system,')
    assert message.endswith(f'convert it once: python -m mambavision_tools.convert_checkpoint {path} SAFE_COPY.pth '
                            '--trust-pickle')
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the control: unpickled in full, the file runs its command
    assert marker.exists()


def test_other_objects_are_refused_by_their_full_name(tmp_path):
    torch.save({'meta': {'time': datetime.datetime(2024, 5, 1)}, 'args': argparse.Namespace(lr=1)},
               tmp_path / 'dated.pth')
    with pytest.raises(UnsafeCheckpointError, match='would call datetime.datetime, which is not on the allow-list'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'dated.pth'))
    torch.save({'x': _Reach(eval, '__call__')}, tmp_path / 'reach.pth')  # torch's own message says 'eval'
    with pytest.raises(UnsafeCheckpointError, match=r"would call builtins.eval, which"):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'reach.pth'))


def test_the_allow_list_is_exactly_what_published_and_mmengine_files_need():
    allowed = RUNNER_CHECKPOINT_ALLOW_LIST.names()
    assert allowed['argparse.Namespace'].startswith('published ImageNet .pth.tar files')
    assert allowed['mmengine.logging.history_buffer.HistoryBuffer'].startswith('mmengine runner checkpoints')
    assert {name.split('.')[0] for name in allowed} == {'argparse', 'numpy', 'mmengine', 'builtins'}
    assert [name for name in allowed if name.startswith('builtins')] == ['builtins.getattr']  # the stand-in
    assert {name for name in allowed if 'multiarray' in name} == {
        f'numpy.{core}.multiarray.{f}' for core in ('core', '_core') for f in ('_reconstruct', 'scalar')}
    # The core's own list is the same without mmengine's objects, and stays so after the plugin layer is imported.
    assert set(allowed) - set(CHECKPOINT_ALLOW_LIST.names()) == {
        'mmengine.logging.history_buffer.HistoryBuffer', 'builtins.getattr'}


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='checkpoint .*nothing.pth does not exist'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'nothing.pth'))
