"""What mambavision_mm/engine/mmengine_internals.py relies on in mmengine: each test fails, by name, the day an
mmengine release changes one of the private names the module uses."""
import inspect

import pytest
import torch
from mmengine.dataset import BaseDataset
from mmengine.hooks import CheckpointHook
from mmengine.infer import BaseInferencer
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch import nn

from mambavision_mm import DatasetError
from mambavision_mm.engine.mmengine_internals import (
    StepCheckpointHook,
    built_loops,
    history_buffer_statistics,
    requested_checkpoint,
    resume_requested,
    set_load_or_resume,
    train_loop_built,
)


class Line(BaseModel):
    """y = w.x: the smallest model a Runner trains."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1, bias=False)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


def line_runner(work_dir, epochs=1, hooks=None, **kwargs):
    return Runner(model=Line(), work_dir=str(work_dir), experiment_name=work_dir.name,
                  train_dataloader=dict(dataset=[dict(inputs=torch.tensor([1.0, 2.0]))], batch_size=1,
                                        sampler=dict(type='DefaultSampler', shuffle=False),
                                        collate_fn=dict(type='pseudo_collate')),
                  optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
                  train_cfg=dict(by_epoch=True, max_epochs=epochs), default_hooks=hooks, **kwargs)


def test_the_runner_keeps_load_from_and_resume_and_load_or_resume_obeys_a_change(tmp_path):
    asked = line_runner(tmp_path / 'asked', load_from='some.pth', resume=True)
    assert resume_requested(asked) and requested_checkpoint(asked) == 'some.pth'
    plain = line_runner(tmp_path / 'plain')
    assert not resume_requested(plain) and requested_checkpoint(plain) is None
    path = str(tmp_path / 'weights.pth')
    torch.save({'state_dict': {'linear.weight': torch.tensor([[3.0, 4.0]])}}, path)
    set_load_or_resume(plain, False, path)
    plain.load_or_resume()
    assert torch.equal(plain.model.linear.weight.detach(), torch.tensor([[3.0, 4.0]]))


def test_loops_are_read_without_being_built(tmp_path):
    runner = line_runner(tmp_path / 'loops')  # no val_cfg or test_cfg: runner.val_loop would raise
    assert built_loops(runner) == [] and train_loop_built(runner) is None
    loop = runner.train_loop  # mmengine builds it on first access
    assert built_loops(runner) == [loop] and train_loop_built(runner) is loop


class RecordingCheckpointHook(StepCheckpointHook):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.steps = []

    def save_with_step(self, runner, step, meta):
        self.steps.append(step)


def test_every_interval_save_goes_through_the_one_overridden_private_method(tmp_path):
    hook = RecordingCheckpointHook(interval=1)
    line_runner(tmp_path / 'saves', epochs=3, hooks=dict(checkpoint=hook)).train()
    assert hook.steps == [1, 2, 3] and not list((tmp_path / 'saves').glob('epoch_*.pth'))
    assert list(inspect.signature(CheckpointHook._save_checkpoint_with_step).parameters) == [
        'self', 'runner', 'step', 'meta']


def test_history_buffer_statistics_are_its_registered_methods():
    HistoryBuffer()  # registers the built-in statistics
    statistics = history_buffer_statistics()
    assert {'min', 'max', 'current', 'mean'} <= set(statistics)
    assert statistics['mean'](HistoryBuffer([1.0, 3.0], [1, 1])) == 2.0


def test_inferencers_load_weights_through_the_method_we_call():
    assert list(inspect.signature(BaseInferencer._load_weights_to_model).parameters) == [
        'self', 'model', 'checkpoint', 'cfg']


class NoSamples(BaseDataset):
    def load_data_list(self):
        return []


def test_datasets_serialise_through_the_guarded_method():
    assert getattr(BaseDataset._serialize_data, 'guards_serialisation', False)
    with pytest.raises(DatasetError, match='has no sample'):
        NoSamples()
    assert len(NoSamples(serialize_data=False)) == 0  # nothing serialised, nothing refused: the guard's place
