"""The training-memory planner: its activations are the bytes a real backward saves, its parameter, gradient and
optimizer parts what the config builds; the levers lower it; the GPU scan kernels' saved tensors by hand."""
import argparse
import contextlib
import copy
import json
import math
import os
import runpy
import sys

import pytest
import torch
from mmengine.config import DictAction

from mambavision_mm.analysis.memory_tracking import (
    HalfInFloat32,
    LiveBytes,
    SavedTensorCount,
    mamba_ssm_saves,
    storage_key,
)
from mambavision_mm.analysis.train_memory import Setting, plan_memory
from mambavision_mm.apis.inputs import InputError
from mambavision_mm.apis.models import build_model, read_config
from mambavision_mm.testing.batches import synthetic_batch

from ...helpers.paths import DATA, ROOT

SEG = os.path.join(DATA, 'zoo/upernet_mambavision-micro_toy-zoo.py')
DET = os.path.join(DATA, 'zoo/cascade-mask-rcnn_mambavision-micro_toy-zoo.py')
EMA = os.path.join(DATA, 'configs/upernet_mambavision-micro_toy-shapes-ema-llrd.py')
PLAIN = dict(batch=2, amp='none', scan_backend='torch', shape=(96, 128), gpus=1)


@pytest.fixture(scope='module')
def seg_cfg():
    return read_config(SEG)


@pytest.fixture(scope='module')
def plain_plan(seg_cfg):
    return plan_memory(seg_cfg, Setting(**PLAIN))


def saved_by_a_real_step(cfg, shape, batch):
    """Bytes saved for backward by a real forward on the CPU, each storage once, parameters and buffers excluded."""
    torch.manual_seed(0)
    model = build_model(cfg)
    model.train()
    held = {storage_key(t) for t in list(model.parameters()) + list(model.buffers())}
    saved = {}

    def pack(tensor):
        if storage_key(tensor) not in held:
            saved[storage_key(tensor)] = tensor
        return tensor
    data = model.data_preprocessor(synthetic_batch('mmseg', model, shape, batch, 'cpu'), True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        losses = model(**data, mode='loss')
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    return sum(t.untyped_storage().nbytes() for t in saved.values())


def test_activations_are_the_bytes_a_real_backward_saves(seg_cfg, plain_plan):
    assert plain_plan.activations == saved_by_a_real_step(seg_cfg, PLAIN['shape'], PLAIN['batch'])
    checkpointed = copy.deepcopy(seg_cfg)
    checkpointed.model.backbone.with_cp = True
    with_cp = plan_memory(seg_cfg, Setting(**PLAIN, with_cp=True))
    assert with_cp.activations == saved_by_a_real_step(checkpointed, PLAIN['shape'], PLAIN['batch'])
    assert set(plain_plan.activations_by_part) == {'backbone stem', 'backbone stage 1', 'backbone stage 2',
                                                   'backbone stage 3', 'backbone stage 4', 'heads and losses'}


def test_parameters_gradients_and_optimizer_are_what_the_config_builds(seg_cfg, plain_plan):
    from mmengine.optim import build_optim_wrapper
    model = build_model(seg_cfg)
    params = list(model.parameters())
    assert plain_plan.parameters == 4 * (sum(p.numel() for p in params) + sum(b.numel() for b in model.buffers()
                                                                              if b.is_floating_point())) + \
        8 * sum(b.numel() for b in model.buffers() if not b.is_floating_point())
    assert plain_plan.gradients == 4 * sum(p.numel() for p in params)
    wrapper = build_optim_wrapper(model, seg_cfg.optim_wrapper)
    for p in params:
        p.grad = torch.zeros_like(p)
    wrapper.optimizer.step()
    moments = sum(t.numel() * t.element_size() for state in wrapper.optimizer.state.values()
                  for name, t in state.items() if name != 'step')  # AdamW's step counts stay on the CPU
    assert plain_plan.optimizer == moments == 2 * plain_plan.gradients
    assert plain_plan.ddp_buckets == 0 and plain_plan.ema == 0
    assert plain_plan.total == (plain_plan.parameters + plain_plan.optimizer
                                + max(plain_plan.activations + plain_plan.transient, plain_plan.gradients))
    assert plain_plan.activations + plain_plan.transient >= plain_plan.gradients  # all built by the end of backward


def test_the_levers_lower_the_activations(seg_cfg, plain_plan):
    with_cp = plan_memory(seg_cfg, Setting(**PLAIN, with_cp=True))
    frozen = plan_memory(seg_cfg, Setting(**PLAIN, frozen_stages=2))
    amp = plan_memory(seg_cfg, Setting(**{**PLAIN, 'amp': 'fp16'}))
    for lighter in with_cp, frozen, amp:
        assert lighter.activations < plain_plan.activations
    for stage in ('backbone stage 3', 'backbone stage 4'):  # the checkpointed blocks keep only their inputs
        assert with_cp.activations_by_part[stage] < plain_plan.activations_by_part[stage] / 2
    assert frozen.activations_by_part.get('backbone stem', 0) == 0
    assert frozen.gradients < plain_plan.gradients and frozen.optimizer < plain_plan.optimizer


def test_ddp_buckets_and_ema_copy():
    plan = plan_memory(read_config(EMA), Setting(**{**PLAIN, 'gpus': 8}))
    assert plan.ema == plan.parameters > 0
    assert plan.ddp_buckets == plan.gradients > 0


def test_mamba_ssm_stand_in_saves_what_its_kernel_saves_by_hand():
    """u and delta (B, D, L), B and C made contiguous (B, N, L), and a float32 state of 2N numbers per channel and
    chunk of 2048 tokens; A, D and the bias are parameters in the model."""
    batch, channels, state, length = 2, 6, 8, 5000
    u, delta = (torch.randn(batch, channels, length, requires_grad=True) for _ in range(2))
    B, C = (torch.randn(batch, length, state).transpose(1, 2).requires_grad_() for _ in range(2))
    params = [torch.nn.Parameter(-torch.rand(channels, state)), torch.nn.Parameter(torch.ones(channels)),
              torch.nn.Parameter(torch.zeros(channels))]
    count = SavedTensorCount([storage_key(p) for p in params], lambda: 'scan')
    with count.hooks():
        mamba_ssm_saves(u, delta, params[0], B, C, params[1], params[2], True)
    chunks = math.ceil(length / 2048)
    assert count.total == 4 * (2 * batch * channels * length + 2 * batch * state * length
                               + batch * channels * chunks * 2 * state)


def test_half_in_float32_keeps_the_half_precision_tensors_and_their_bytes():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 4))
    x = torch.randn(2, 3, 8, 8)
    held = [storage_key(p) for p in model.parameters()]

    def step(*modes):
        model.zero_grad()
        count, live = SavedTensorCount(held, lambda: 'model'), LiveBytes(held)
        with contextlib.ExitStack() as stack:
            for mode in modes + (live,):
                stack.enter_context(mode)
            with count.hooks(), torch.autocast('cpu', dtype=torch.bfloat16):
                y = model(x)
            y.float().square().sum().backward()
        return y, count.total, live.peak, [p.grad.clone() for p in model.parameters()]

    y, saved, peak, grads = step()
    y_fast, saved_fast, peak_fast, grads_fast = step(HalfInFloat32())
    assert y_fast.dtype == y.dtype == torch.bfloat16
    assert (saved_fast, peak_fast) == (saved, peak) and saved > 0
    torch.testing.assert_close(y_fast, y, rtol=2e-2, atol=2e-2)
    for fast, slow in zip(grads_fast, grads):
        torch.testing.assert_close(fast, slow, rtol=5e-2, atol=5e-2)


def test_detection_mask_targets_grow_with_the_objects():
    cfg = read_config(DET)
    few, many = (plan_memory(cfg, Setting(batch=1, amp='none', scan_backend='torch', shape=(96, 128), num_gt=n,
                                          gpus=1)) for n in (1, 12))
    assert many.activations_by_part['heads and losses'] > few.activations_by_part['heads and losses']
    assert many.activations_by_part['backbone stage 3'] == few.activations_by_part['backbone stage 3']


def test_losses_given_per_level_are_summed_as_the_model_sums_them():
    """RetinaNet's losses are lists (one tensor per pyramid level), summed by the model's parse_losses."""
    cfg = read_config(os.path.join(ROOT, 'configs/mmdet/retinanet_mambavision-t_fpn_1x_coco.py'), {
        'model.backbone': dict(type='MambaVision', arch=None, dim=16, in_dim=16, depths=(1, 1, 1, 1),
                               num_heads=(2, 2, 2, 2), window_size=(8, 8, 8, 4), out_indices=(1, 2, 3)),
        'model.neck.in_channels': [32, 64, 128], 'model.neck.out_channels': 32,
        'model.bbox_head.in_channels': 32, 'model.bbox_head.feat_channels': 32})
    plan = plan_memory(cfg, Setting(batch=1, amp='fp16', scan_backend='torch', shape=(96, 128), num_gt=3, gpus=1))
    assert plan.activations_by_part['heads and losses'] > 0 and plan.gradients > 0


@pytest.mark.parametrize('setting, message', [
    (Setting(scan_backend='mamba'), "unknown scan backend 'mamba'; choose one of ('cuda', 'triton', 'torch')"),
    (Setting(batch=0), 'the batch must be at least 1; got 0'),
    (Setting(amp='fp8'), "unknown AMP setting 'fp8'"),
])
def test_bad_settings_are_one_line(seg_cfg, setting, message):
    with pytest.raises(InputError, match=message.replace('(', r'\(').replace(')', r'\)')):
        plan_memory(seg_cfg, setting)


def run_tool(*args):
    argv = sys.argv
    sys.argv = [os.path.join(ROOT, 'tools/analysis_tools/train_memory.py'), *map(str, args)]
    try:
        runpy.run_path(sys.argv[0], run_name='__main__')
        return 0
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
            return 1
        return exit_.code
    finally:
        sys.argv = argv


def test_cli_table_json_and_fit(tmp_path, capsys):
    out = tmp_path / 'plan.json'
    assert run_tool(SEG, '--shape', 96, 128, '--amp', 'none', '--gpus', 1, '--fit', 0.012, '--out', out) == 0
    printed = capsys.readouterr().out
    assert '| **total (peak)** |' in printed and 'fits (peak within 90% of the card): 16 GB yes' in printed
    written = json.loads(out.read_text())
    for key in ('parameters', 'gradients', 'optimizer', 'activations', 'transient', 'total'):
        assert isinstance(written[key], int) and written[key] >= 0, key
    assert written['total'] > 0.9 * 0.012 * 2 ** 30  # as configured it does not fit: --fit changes something
    fit = written['fit']
    assert fit['plan']['total'] <= 0.9 * 0.012 * 2 ** 30 and fit['cfg_options']
    assert '--cfg-options ' + ' '.join(fit['cfg_options']) in printed
    # The printed options, with the command's own settings (--amp none), make the plan found.
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    options = parser.parse_args(['--cfg-options', *' '.join(fit['cfg_options']).split()]).cfg_options
    changed = plan_memory(read_config(SEG, options), Setting(amp='none', shape=(96, 128), gpus=1))
    assert changed.setting == fit['plan']['setting'] and changed.total == fit['plan']['total']
    found_batch = fit['plan']['setting']['batch']
    assert found_batch < 2 and options['optim_wrapper.accumulative_counts'] * found_batch == 2  # the recipe's batch


def test_cli_refuses_other_backbones_in_one_line(capsys):
    assert run_tool(os.path.join(DATA, 'configs/upernet_resnet18-micro_toy-zoo.py')) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: ")
