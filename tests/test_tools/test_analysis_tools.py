"""get_flops.py, benchmark.py and benchmark_scan.py from the command line."""
import os
import re

import pytest
import torch

from mambavision_mm.analysis.environment import cpu_model

from ..helpers.paths import ROOT
from ..helpers.processes import run_tool

GET_FLOPS = os.path.join(ROOT, 'tools/analysis_tools/get_flops.py')


def test_detector_heads_are_counted_as_predict_runs_them():
    # Toy config: test_cfg keeps 100 proposals and 20 detections, 3 classes, 3 cascade stages, heads of 128 channels
    # on 256-channel RoI features.
    config = os.path.join(ROOT, 'configs/mmdet/toy/cascade-mask-rcnn_mambavision-t_fpn_toy-shapes.py')
    out = run_tool([GET_FLOPS, config, '--shape', '128', '160', '--skip-stock'], timeout=600)
    parts = dict(re.findall(r'([a-z][a-z ]* \(\d+ RoIs\)) ([0-9.]+) G', out))
    convs = 9 * (256 * 128 + 3 * 128 * 128)  # per position: 4 convs, the first from 256 channels
    box = 7 * 7 * convs + 128 * 7 * 7 * 1024 + 1024 * (3 + 1) + 1024 * 4 * 3  # convs, fc, cls, reg
    mask = 14 * 14 * convs + 14 * 14 * 128 * 128 * 4 + 28 * 28 * 128 * 3  # convs, deconv, logits
    assert float(parts['box heads (100 RoIs)']) == pytest.approx(3 * 100 * box / 1e9, abs=0.05)
    assert float(parts['mask heads (20 RoIs)']) == pytest.approx(3 * 20 * mask / 1e9, abs=0.05)
    assert 'mmengine:' not in out


@pytest.mark.slow  # in make test-all: make test stays within its 10 minutes
def test_cli_prints_params_and_both_counts():
    config = os.path.join(ROOT, 'configs/mmseg/toy/upernet_mambavision-t_toy-shapes-256x256.py')
    out = run_tool([GET_FLOPS, config, '--shape', '128', '160'], timeout=600)
    assert 'params:   40.29 M (backbone 31.15 M)' in out
    ours = float(re.search(r'FLOPs: +([0-9.]+) G', out).group(1))
    stock = float(re.search(r'mmengine: ([0-9.]+) G', out).group(1))
    assert ours > stock > 0


@pytest.mark.slow  # in make test-all: make test stays within its 10 minutes
def test_benchmark_measures_model_and_counterparts():
    config = os.path.join(ROOT, 'configs/mmseg/toy/upernet_mambavision-t_toy-shapes-256x256.py')
    out = run_tool([os.path.join(ROOT, 'tools/analysis_tools/benchmark.py'), config, '--shape', '64', '96',
                    '--repeats', '1', '--compare'], timeout=600)
    rows = {line.split('|')[1].strip(): line for line in out.splitlines()
            if line.startswith('| ') and 'img/s' not in line}
    assert set(rows) == {'MambaVision', 'Swin-T', 'ResNet-50'}
    assert '| 40.3 M ' in rows['MambaVision']
    for line in rows.values():
        cells = [c.strip() for c in line.split('|')[1:-1]]
        assert float(cells[2]) > 0 and float(cells[4]) > 0


def test_scan_benchmark_prints_one_row_per_backend_and_refuses_missing_backends():
    tool = os.path.join(ROOT, 'tools/analysis_tools/benchmark_scan.py')
    out = run_tool([tool, '--cases', 'classification', '--batch', '2', '--repeats', '1', '--backend', 'torch',
                    'reference'], timeout=300)
    rows = [[c.strip() for c in line.split('|')[1:-1]] for line in out.splitlines()
            if line.startswith('| classification')]
    assert [row[1:3] for row in rows] == [['(2, 160, 8, 196)', 'torch'], ['(2, 160, 8, 196)', 'reference']]
    for row in rows:
        assert all(re.fullmatch(r'\d+\.\d ms', cell) for cell in (row[3], row[5])), row
    assert f'# {cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}; inputs fp32' in out
    out = run_tool([tool, '--backend', 'cuda'], status=2)
    assert "--backend cuda: selective-scan backend 'cuda' needs" in out


def test_dataset_check_benchmark_reports_build_and_checks():
    tool = os.path.join(ROOT, 'tools/analysis_tools/benchmark_dataset_checks.py')
    out = run_tool([tool, '--images', '300', '--annotations', '2000'], timeout=300)
    assert 'generated 300 images / 2000 annotations' in out
    samples = int(re.search(r'; (\d+) training samples after filtering', out).group(1))
    assert 280 <= samples <= 300  # images that drew no annotation are filtered out, as in mmdet's recipes
    rows = {line.split('|')[1].strip(): line.split('|')[2:4] for line in out.splitlines()
            if line.startswith('| ') and '---' not in line}
    # At this size the checks take a few milliseconds: their time is a number, not necessarily above 0.000.
    assert float(rows['mmdet CocoDataset build'][0]) > 0
    assert re.fullmatch(r' \d+\.\d{3} ', rows['data checks'][0])
    assert re.fullmatch(r' \d+% ', rows['checks / build'][0])


@pytest.mark.slow  # in make test-all: make test stays within its 10 minutes
def test_levers_benchmark_prints_a_ratio_per_lever():
    out = run_tool([os.path.join(ROOT, 'tools/analysis_tools/benchmark_levers.py'), '--shape', '64', '64',
                    '--windows', '2', '2', '2', '1', '--repeats', '1'], timeout=300)
    rows = {cells[0]: cells[1:] for cells in ([c.strip() for c in line.split('|')[1:-1]]
                                              for line in out.splitlines() if line.startswith('| '))}
    assert list(rows)[1:] == ['plain', 'gradient checkpointing', 'frozen stages 1', 'frozen stages 2', 'EMA update']
    assert rows['plain'][1] == '1.00' and all(float(seconds) > 0 for seconds, _ in list(rows.values())[1:])
    plain = float(rows['plain'][0])
    for seconds, ratio in list(rows.values())[1:]:  # the ratio to plain, within the printed rounding
        low, high = (float(seconds) - 0.005) / (plain + 0.005), (float(seconds) + 0.005) / (plain - 0.005)
        assert low - 0.005 <= float(ratio) <= high + 0.005, (seconds, ratio, plain)
