"""Loading mmengine checkpoints safely on torch >= 2.6 through mmengine's own loader."""
import argparse
import io
import pickle
import zipfile
from collections import OrderedDict

import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

import mmengine_plugin  # noqa: F401  (replaces the loader)

from ..helpers import mmengine_checkpoint, run_tool


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
    assert not any('fully unpickled' in m for m in package_logs), package_logs


def test_a_fresh_process_loads_them_safely(tmp_path):
    """No HistoryBuffer exists yet where test.py or --resume loads a checkpoint: its statistics must still load."""
    path = tmp_path / 'epoch_36.pth'
    torch.save(mmengine_checkpoint(), path)
    code = ('import sys, mmengine_plugin; from mmengine.runner.checkpoint import CheckpointLoader; '
            'hub = CheckpointLoader.load_checkpoint(sys.argv[1])["message_hub"]; '
            'print("mean loss", hub["log_scalars"]["train/loss"].mean())')
    out = run_tool(['-c', code, str(path)], tmp_path)
    assert 'mean loss 0.75' in out and 'fully unpickled' not in out


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
    with pytest.raises(pickle.UnpicklingError, match=f'getattr.*{name}.* is not allowed'):
        torch.load(tmp_path / 'reach.pth', weights_only=True)
    torch.save({'x': _Reach(HistoryBuffer, 'mean')}, tmp_path / 'mean.pth')
    assert torch.load(tmp_path / 'mean.pth', weights_only=True)['x'] is HistoryBuffer.mean


def test_files_with_other_objects_are_fully_unpickled_and_said_once(tmp_path, package_logs):
    path = str(tmp_path / 'mambavision_tiny_1k.pth.tar')
    torch.save({'state_dict': {'levels.0.blocks.0.conv1.weight': torch.zeros(1)}, 'args': argparse.Namespace(lr=1)},
               path)
    for _ in range(2):
        assert 'args' in CheckpointLoader.load_checkpoint(path, map_location='cpu')
    said = [m for m in package_logs if 'fully unpickled' in m]
    assert len(said) == 1 and path in said[0] and 'argparse.Namespace' in said[0]


def test_missing_checkpoint_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='checkpoint .*nothing.pth does not exist'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'nothing.pth'))
