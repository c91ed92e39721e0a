"""The GPU check (tools/analysis_tools/gpu_check.py): the whole report on CPU, and each check failing when it should."""
import re
import subprocess
import sys

import pytest
import torch

from mambavision_backbone import scan
from mambavision_backbone.scan_torch import selective_scan_torch
from mambavision_tools import gpu_check

from ..helpers.paths import ROOT


@pytest.fixture(scope='module')
def cpu_report(tmp_path_factory):
    out = tmp_path_factory.mktemp('gpu_check') / 'report.md'
    result = subprocess.run([sys.executable, 'tools/analysis_tools/gpu_check.py', '--device', 'cpu', '--out', str(out)],
                            cwd=ROOT, capture_output=True, text=True)
    return result, out.read_text() if out.exists() else ''


def rows(report, heading):
    """The table rows (lists of cells) of the section under ``heading``."""
    section = report.split(f'## {heading}', 1)[1].split('\n## ', 1)[0]
    return [[cell.strip() for cell in line.strip('|').split('|')] for line in section.splitlines()
            if line.startswith('| ') and not line.startswith('| ---')][1:]


@pytest.mark.slow  # about 85 s (AMD EPYC): the whole report, toy training and speed rows included
def test_the_cpu_report_has_every_section_and_passes(cpu_report):
    result, report = cpu_report
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert report.endswith('every check passed\n')
    written = [line for line in report.splitlines() if line]
    assert [line for line in result.stdout.splitlines() if line in written] == written  # printed as written
    environment = dict(rows(report, 'Environment'))
    import mmcv

    from mambavision_mm import compiled_mmcv_ops
    ops = 'compiled ops' if compiled_mmcv_ops() else 'no compiled ops (RoIAlign and NMS in PyTorch)'
    assert environment['torch'] == torch.__version__ and environment['mmcv'] == f'{mmcv.__version__}, {ops}'
    scan_rows = rows(report, 'Selective scan against the float64 reference')
    cases = [case for case, *_ in gpu_check.PLANS['cpu'].scan_cases]
    backends = ['torch'] + ['triton'] * scan.triton_available()
    assert [(r[0], r[2], r[3]) for r in scan_rows] == [(c, p, b) for c in cases for p in gpu_check.INPUT_DTYPES
                                                       for b in backends]
    for row in scan_rows:
        y_error, grad_error = float(row[4]), float(row[5].split()[0])
        assert 0 < y_error <= gpu_check.TOLERANCES[row[2]][0] and 0 < grad_error and row[6] == 'ok', row
    training = rows(report, 'Training iterations of the toy configs')
    assert [r[0] for r in training] == list(gpu_check.TOY_CONFIGS)
    for name, precision, iterations, losses, finite, memory in training:
        assert precision == 'fp32' and iterations == '2' and finite == 'ok' and memory.endswith('MiB')
        assert all(0 < float(x) < 20 for x in losses.split())
    determinism = rows(report, 'Determinism: two identical short runs, bit for bit')
    assert [(r[0], r[3], r[4]) for r in determinism] == [(n, 'identical', 'ok') for n in gpu_check.TOY_CONFIGS]
    speed = rows(report, 'Speed: models (fp32, batch 2: a training step and an inference, median of 1)')
    assert [(r[0], r[1]) for r in speed] == [(m, b) for m in ('Cascade Mask R-CNN', 'UPerNet')
                                             for b in ('MambaVision-T', 'Swin-T', 'ResNet-50')]
    assert all(re.fullmatch(r'\d+\.\d{3} s', r[4]) and re.fullmatch(r'\d+\.\d{3} s', r[6]) for r in speed)
    skipped = report.split('## Skipped', 1)[1]
    assert "'cuda' scan backend: mamba-ssm runs on CUDA tensors only" in skipped
    assert 'backbone against the CPU: the device is the CPU' in skipped


def test_make_gpu_check_runs_the_script():
    result = subprocess.run(['make', '--no-print-directory', '-n', 'gpu-check', 'ARGS=--device cpu'], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1].endswith('tools/analysis_tools/gpu_check.py --device cpu')


SMALL = gpu_check.Plan(scan_cases=[('odd length', (1, 2, 4, 9), False)], scan_speed=[], speed_configs='toy',
                       detection_size=(64, 64), segmentation_size=(64, 64))


@pytest.mark.parametrize('error', [1e-3, None])
def test_a_scan_backend_off_the_reference_fails_the_report(monkeypatch, error):
    """1e-3 relative is ten times the fp32 tolerance; None: the backend raises."""
    def wrong(*args, **kwargs):
        if error is None:
            raise RuntimeError('no kernel image is available for execution on the device')
        return selective_scan_torch(*args, **kwargs) * (1 + error)
    monkeypatch.setitem(scan._IMPLEMENTATIONS, 'torch', wrong)
    report = gpu_check.Report()
    gpu_check.check_scan(report, torch.device('cpu'), SMALL, ['torch'])
    failed = {line.split(':')[0] for line in report.failures}
    if error is None:
        assert failed == {f'scan torch {p} odd length' for p in gpu_check.INPUT_DTYPES}
        assert 'no kernel image' in report.failures[0]
    else:  # the half-precision tolerances are wider than 1e-3
        assert failed == {'scan torch fp32 odd length', 'scan torch autocast odd length'}


def test_runs_that_differ_fail_the_determinism_check(monkeypatch):
    runs = iter([{'w': torch.zeros(2), 'v': torch.ones(1)}, {'w': torch.tensor([0.0, 1e-7]), 'v': torch.ones(1)}])
    monkeypatch.setattr(gpu_check.model_checks, 'train_iterations', lambda *args, **kwargs: ([1.0], None, next(runs)))
    report = gpu_check.Report()
    gpu_check.check_determinism(report, torch.device('cpu'), SMALL, {'toy UPerNet': (None, 'mmseg')})
    assert report.failures == ['determinism toy UPerNet: 1 of 2 tensors differ (first: w)']
    assert not torch.are_deterministic_algorithms_enabled()  # switched back off


def test_a_non_finite_loss_fails_the_training_check(monkeypatch):
    monkeypatch.setattr(gpu_check.model_checks, 'train_iterations',
                        lambda *args, **kwargs: ([2.0, float('nan')], None, {}))
    report = gpu_check.Report()
    gpu_check.check_training(report, torch.device('cpu'), SMALL, {'toy UPerNet': (None, 'mmseg')})
    assert report.failures == ['training toy UPerNet fp32: a loss is not finite']
