"""The GPU check (tools/analysis_tools/gpu_check.py): is this toolbox correct on this device, and how fast is it?

The report, in Markdown, has the environment; every selective-scan backend that runs here against the float64
reference (values and all gradients; fp32, bf16 and fp16 inputs and autocast; published and awkward shapes);
the backbone on the GPU against the CPU; a few training iterations of the toy detection and segmentation configs
with the published AMP settings; two identical short runs compared bit for bit; and a speed and memory table.
On CUDA the shapes are the published ones; on CPU (``--device cpu``) they are small, Triton runs under its
interpreter and nothing is timed that an interpreter would make meaningless.
"""
import datetime
import os
import tempfile
import time

from mambavision_mm.analysis.environment import describe_environment

from .model_checks import check_backbone_against_cpu, check_determinism, check_training, toy_config, use_data
from .model_speed import backbone_speed, model_speed
from .plans import INPUT_DTYPES, PLANS, TOLERANCES, Plan
from .report import Report
from .scan_checks import check_scan, scan_backends, scan_speed

__all__ = ['INPUT_DTYPES', 'PLANS', 'PUBLISHED_CONFIGS', 'TOLERANCES', 'TOY_CONFIGS', 'Plan', 'Report', 'run']

TOY_CONFIGS = {'toy Cascade Mask R-CNN': 'mmdet/toy/cascade-mask-rcnn_mambavision-t_fpn_toy-shapes.py',
               'toy UPerNet': 'mmseg/toy/upernet_mambavision-t_toy-shapes-256x256.py'}
PUBLISHED_CONFIGS = {'Cascade Mask R-CNN': 'mmdet/cascade-mask-rcnn_mambavision-t_fpn_3x_coco.py',
                     'UPerNet': 'mmseg/upernet_mambavision-t_160k_ade20k-512x512.py'}


def run(device, configs_dir, out, quick=False, echo=None):
    """Run every section on ``device`` and write the report to ``out``; returns the number of failed checks."""
    from mmengine.logging import MMLogger

    from mambavision_mm.testing import generate_ade20k, generate_coco
    MMLogger.get_instance('gpu_check', log_level='ERROR')  # the current logger: no model-building chatter
    plan = PLANS[device.type]
    report = Report(echo)
    started = time.perf_counter()
    report.add(f'# MambaVision GPU check: {device}')
    report.add()
    report.add(f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; shapes: '
               f'{"published" if device.type == "cuda" else "small (CPU)"}')
    report.heading('Environment')
    row = report.table(['', ''])
    for item, value in describe_environment(device):
        row([item, value])
    backends = scan_backends(device, report)
    check_scan(report, device, plan, backends)
    check_backbone_against_cpu(report, device)
    with tempfile.TemporaryDirectory() as tmp:
        roots = {'mmdet': generate_coco(os.path.join(tmp, 'coco'), train=4, val=1, size=(160, 128)) + '/',
                 'mmseg': generate_ade20k(os.path.join(tmp, 'ade'), train=4, val=1) + '/'}
        toy = {}
        for name, path in TOY_CONFIGS.items():
            cfg, scope = toy_config(os.path.join(configs_dir, path), plan)
            toy[name] = use_data(cfg, roots[scope]), scope
        check_training(report, device, plan, toy)
        check_determinism(report, device, plan, toy)
    scan_speed(report, device, plan, backends)
    backbone_speed(report, device, plan)
    if quick:
        report.skip('model speed', '--quick')
    else:
        paths = TOY_CONFIGS if plan.speed_configs == 'toy' else PUBLISHED_CONFIGS
        model_speed(report, device, plan, {name.replace('toy ', ''): toy_config(os.path.join(configs_dir, path), plan)
                                           for name, path in paths.items()})
    report.add()
    report.add(f'took {(time.perf_counter() - started) / 60:.1f} min')
    text = report.finish()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        f.write(text)
    return len(report.failures)
