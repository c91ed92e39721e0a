"""The GPU check (tools/analysis_tools/gpu_check.py): is this toolbox correct on this device, and how fast is it?

The report, in Markdown, has the environment; every selective-scan backend that runs here against the float64
reference (values and all gradients; fp32, bf16 and fp16 inputs and autocast; published and awkward shapes);
the backbone on the GPU against the CPU; a few training iterations of the toy detection and segmentation configs
with the published AMP settings; two identical short runs compared bit for bit; and a speed and memory table.
On CUDA the shapes are the published ones; on CPU (``--device cpu``) they are small, Triton runs under its
interpreter and nothing is timed that an interpreter would make meaningless.
"""
import copy
import datetime
import itertools
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from mambavision_backbone import MambaVision, scan

from .counterparts import COUNTERPARTS, swap_backbone
from .environment import describe_environment
from .measure import PeakMemory, fmt_mem, measure

# Largest error relative to the largest reference value: (output, gradients), per input precision. Half inputs
# are rounded before the reference sees them, so what remains is the fp32 arithmetic and the output's rounding.
TOLERANCES = {'fp32': (1e-4, 1e-3), 'autocast': (1e-4, 1e-3), 'bf16': (1e-2, 2e-2), 'fp16': (1e-2, 2e-2)}
INPUT_DTYPES = {'fp32': torch.float32, 'autocast': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
MODEL_BATCH = 2  # images per GPU in the published detection and segmentation recipes
PUBLISHED_IMAGES_PER_S = 6298  # MambaVision-T at 224x224, batch 128, AMP, one A100 (the paper's table)


@dataclass
class Plan:
    """The shapes and repeats of one run: published sizes on CUDA, small ones on CPU."""
    scan_cases: list        # (what, (B, D, N, L), strong decay)
    scan_speed: list        # (what, (B, D, N, L))
    speed_configs: str      # 'published', or 'toy' (narrower heads, fewer proposals: CPU-sized)
    detection_size: tuple   # (H, W) of the detector's images
    segmentation_size: tuple
    windows: dict = field(default_factory=dict)   # config kind -> window_size override (CPU only)
    classification_batch: int = 128
    iterations: int = 5
    repeats: int = 10


PLANS = {
    'cuda': Plan(
        scan_cases=[('published: classification T, stage 3', (16, 160, 8, 196), False),
                    ('published: detection T, stage 3', (1, 160, 8, 12544), False),
                    ('odd length', (2, 7, 8, 1001), False), ('one chunk', (4, 16, 8, 100), False),
                    ('many chunks', (1, 8, 8, 20000), False), ('strong decay', (1, 16, 8, 5000), True)],
        scan_speed=[('classification T, stage 3', (128, 160, 8, 196)), ('detection T, stage 3', (1, 160, 8, 12544)),
                    ('detection T, stage 4', (1, 320, 8, 3136)), ('segmentation S, stage 3', (1, 192, 8, 25600))],
        speed_configs='published', detection_size=(800, 1280), segmentation_size=(512, 512)),
    'cpu': Plan(
        scan_cases=[('odd length', (2, 4, 8, 37), False), ('one chunk', (1, 3, 8, 16), False),
                    ('many chunks', (1, 2, 8, 600), False), ('strong decay', (1, 2, 8, 300), True)],
        scan_speed=[('classification T, stage 3', (4, 160, 8, 196))],
        speed_configs='toy', detection_size=(128, 128), segmentation_size=(128, 128),
        windows={'mmdet': (8, 8, 8, 4), 'mmseg': (8, 8, 8, 4)},
        classification_batch=4, iterations=2, repeats=1),
}


class Report:
    """A Markdown report printed as it is written, with the checks that failed and what was skipped."""

    def __init__(self):
        self.lines, self.failures, self.skipped = [], [], []
        self.sections = []   # (heading, seconds it took)
        self.current, self.section_start = None, time.perf_counter()

    def add(self, text=''):
        self.lines.append(text)
        print(text, flush=True)

    def heading(self, text):
        now = time.perf_counter()
        if self.current is not None:
            self.sections.append((self.current, now - self.section_start))
        self.current, self.section_start = text, now
        self.add()
        self.add(f'## {text}')
        self.add()

    def table(self, header):
        self.add('| ' + ' | '.join(header) + ' |')
        self.add('|' + '---|' * len(header))
        return lambda cells: self.add('| ' + ' | '.join(str(c) for c in cells) + ' |')

    def check(self, what, ok, detail=''):
        if not ok:
            self.failures.append(f'{what}: {detail}' if detail else what)
        return 'ok' if ok else f'**FAILED** {detail}'.rstrip()

    def skip(self, what, why):
        if f'{what}: {why}' not in self.skipped:
            self.skipped.append(f'{what}: {why}')

    def finish(self):
        self.heading('Time per section')
        row = self.table(['section', 'seconds'])
        for text, seconds in self.sections:
            row([text, f'{seconds:.0f}'])
        self.heading('Skipped')
        for line in self.skipped or ['nothing']:
            self.add(f'- {line}')
        self.heading('Result')
        if self.failures:
            self.add(f'{len(self.failures)} check(s) FAILED:')
            for line in self.failures:
                self.add(f'- {line}')
        else:
            self.add('every check passed')
        return '\n'.join(self.lines) + '\n'


def relative_error(value, reference):
    return ((value.double() - reference).abs().max() / reference.abs().max().clamp(min=1e-30)).item()


# ----------------------------------------------------------------------------------------------- scan
def scan_inputs(shape, strong_decay, seed=0):
    batch, channels, state, length = shape
    g = torch.Generator().manual_seed(seed)
    inputs = dict(u=torch.randn(batch, channels, length, generator=g, dtype=torch.float64),
                  delta=torch.randn(batch, channels, length, generator=g, dtype=torch.float64),
                  A=-torch.rand(channels, state, generator=g, dtype=torch.float64) * 4 - 0.1,
                  B=torch.randn(batch, state, length, generator=g, dtype=torch.float64),
                  C=torch.randn(batch, state, length, generator=g, dtype=torch.float64),
                  D=torch.randn(channels, generator=g, dtype=torch.float64),
                  delta_bias=torch.randn(channels, generator=g, dtype=torch.float64))
    if strong_decay:  # decays that underflow to 0 inside a chunk and across chunks
        inputs['A'] = -torch.linspace(0.1, 8.0, channels * state, dtype=torch.float64).reshape(channels, state)
        inputs['delta'] = inputs['delta'] * 3
    return inputs, torch.randn(batch, channels, length, generator=g, dtype=torch.float64)


def run_scan(inputs, grad_y, backend, autocast_dtype=None):
    """y and the gradients of every input, from one forward and backward of ``backend``."""
    leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}
    with torch.autocast(grad_y.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        y = scan.selective_scan(**leaves, delta_softplus=True, backend=backend)
    y.backward(grad_y.to(y.dtype))
    return y.detach(), {k: v.grad for k, v in leaves.items()}


def scan_backends(device, report):
    backends = ['torch']
    if not scan.triton_available():
        report.skip("'triton' scan backend", 'triton is not installed (pip install --no-deps -r '
                                             'requirements/triton.txt)')
    elif device.type == 'cpu' and not triton_interpreter_on():
        report.skip("'triton' scan backend", 'CPU without TRITON_INTERPRET=1 set before triton was imported')
    else:
        backends.append('triton')
    if device.type != 'cuda':
        report.skip("'cuda' scan backend", 'mamba-ssm runs on CUDA tensors only')
    elif not scan.mamba_ssm_available():
        report.skip("'cuda' scan backend", 'mamba-ssm is not installed (pip install -e .[cuda])')
    else:
        backends.append('cuda')
    return backends


def triton_interpreter_on():
    from mambavision_backbone.scan_triton import interpreter_enabled
    return interpreter_enabled()


def check_scan(report, device, plan, backends):
    report.heading('Selective scan against the float64 reference')
    autocast_dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    report.add(f'Relative error: max |value - reference| / max |reference|, over y and over every gradient (u, '
               f'delta, A, B, C, D, delta bias; the worst is named). Parameters (A, D, delta bias) stay fp32 as in '
               f'the model; `autocast` is fp32 inputs under autocast({str(autocast_dtype)[6:]}).')
    report.add()
    row = report.table(['case', '(B, D, N, L)', 'inputs', 'backend', 'y error', 'worst gradient error', 'result'])
    for case, shape, strong_decay in plan.scan_cases:
        base, grad_y = scan_inputs(shape, strong_decay)
        references = {}
        for precision, dtype in INPUT_DTYPES.items():
            rounded = {k: v.to(dtype) if k in ('u', 'delta', 'B', 'C') else v.float() for k, v in base.items()}
            rounded_grad = grad_y.to(dtype).to(device)
            if dtype not in references:
                references[dtype] = run_scan({k: v.double().to(device) for k, v in rounded.items()},
                                             rounded_grad.double(), 'reference')
            expected_y, expected_grads = references[dtype]
            for backend in backends:
                what = f'scan {backend} {precision} {case}'
                try:
                    y, grads = run_scan({k: v.to(device) for k, v in rounded.items()}, rounded_grad, backend,
                                        autocast_dtype if precision == 'autocast' else None)
                except Exception as error:  # reported, and the rest of the check goes on
                    row([case, shape, precision, backend, '-', '-', report.check(what, False, repr(error)[:200])])
                    continue
                y_error = relative_error(y, expected_y)
                grad_errors = {k: relative_error(g, expected_grads[k]) for k, g in grads.items()}
                worst = max(grad_errors, key=lambda k: grad_errors[k] if grad_errors[k] == grad_errors[k] else 1e30)
                y_tol, grad_tol = TOLERANCES[precision]
                ok = y_error <= y_tol and grad_errors[worst] <= grad_tol and y.dtype == dtype
                row([case, shape, precision, backend, f'{y_error:.1e}', f'{grad_errors[worst]:.1e} ({worst})',
                     report.check(what, ok, f'tolerance {y_tol:.0e} / {grad_tol:.0e}, output {y.dtype}')])


def scan_speed(report, device, plan, backends):
    report.heading('Speed: selective scan (fp32 inputs, median of repeats after a warm-up)')
    timed = [b for b in backends if not (b == 'triton' and device.type == 'cpu')]
    if 'triton' in backends and 'triton' not in timed:
        report.skip("'triton' speed", "Triton's interpreter on CPU: its time measures the interpreter")
    row = report.table(['shape', '(B, D, N, L)', 'backend', 'forward', 'fwd peak mem', 'fwd+bwd', 'fwd+bwd peak mem'])
    for what, shape in plan.scan_speed:
        inputs, grad_y = scan_inputs(shape, False)
        inputs = {k: v.float().to(device) for k, v in inputs.items()}
        grad_y = grad_y.float().to(device)
        for backend in timed:
            def forward():
                with torch.no_grad():
                    scan.selective_scan(**inputs, delta_softplus=True, backend=backend)
            fwd, fwd_mem = measure(forward, device, plan.repeats)
            both, both_mem = measure(lambda: run_scan(inputs, grad_y, backend), device, plan.repeats)
            row([what, shape, backend, f'{fwd * 1e3:.2f} ms', fmt_mem(fwd_mem), f'{both * 1e3:.2f} ms',
                 fmt_mem(both_mem)])


# ----------------------------------------------------------------------------------------------- backbone
def check_backbone_against_cpu(report, device):
    report.heading('Backbone (MambaVision-T) on this device against the CPU, fp32')
    if device.type == 'cpu':
        report.skip('backbone against the CPU', 'the device is the CPU')
        report.add('skipped: the device is the CPU')
        return
    torch.manual_seed(0)
    model = MambaVision('tiny')
    x = torch.randn(2, 3, 224, 224)
    results = {}
    tf32 = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # compare fp32 with fp32
    try:
        for where in ('cpu', device):
            copy_ = copy.deepcopy(model).to(where)
            outs = copy_(x.to(where))
            sum((out * out).mean() for out in outs).backward()
            results[str(where)] = ([o.detach().cpu().double() for o in outs],
                                   {n: p.grad.cpu().double() for n, p in copy_.named_parameters()})
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    (cpu_outs, cpu_grads), (gpu_outs, gpu_grads) = results['cpu'], results[str(device)]
    row = report.table(['compared', 'relative error', 'result'])
    for index, (gpu, cpu) in enumerate(zip(gpu_outs, cpu_outs)):
        error = relative_error(gpu, cpu)
        row([f'map {index} {tuple(gpu.shape)}', f'{error:.1e}', report.check(f'backbone map {index}', error <= 1e-4)])
    errors = {n: relative_error(gpu_grads[n], cpu_grads[n]) for n in cpu_grads}
    worst = max(errors, key=errors.get)
    row([f'gradients of {len(errors)} parameters (worst: {worst})', f'{errors[worst]:.1e}',
         report.check('backbone gradients', errors[worst] <= 1e-3)])


# ----------------------------------------------------------------------------------------------- configs
def load_config(path, plan):
    """A config with its plugins imported, no pretrained weights, and the plan's windows (CPU) for MambaVision."""
    from mmengine.config import Config
    from mmengine.utils import import_modules_from_strings
    cfg = Config.fromfile(path)
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    scope = cfg.get('default_scope', 'mmdet')
    if scope in plan.windows and cfg.model.backbone.type in ('MambaVision', 'MM_mamba_vision'):
        cfg.model.backbone.window_size = plan.windows[scope]
    cfg.model.backbone.pop('init_cfg', None)
    return cfg, scope


def use_data(cfg, data_root):
    """The config reading its data from ``data_root`` in this process (no workers)."""
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    return cfg


def build_model(cfg, scope, device):
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    init_default_scope(scope)
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    return revert_sync_batchnorm(registry.build(cfg.model)).to(device)


def build_optim_wrapper(cfg, model, precision):
    from mmengine.optim import build_optim_wrapper
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if precision == 'fp32':
        optim_cfg.type = 'OptimWrapper'
        optim_cfg.pop('dtype', None)
        optim_cfg.pop('loss_scale', None)
    else:
        optim_cfg.type = 'AmpOptimWrapper'
        optim_cfg.dtype = precision
    return build_optim_wrapper(model, optim_cfg)


def train_iterations(cfg, scope, device, precision, iterations, seed=0):
    """(losses per iteration, peak memory, final weights) of ``iterations`` steps on the config's data."""
    from mmengine.runner import Runner, set_random_seed
    set_random_seed(seed)
    model = build_model(cfg, scope, device).train()
    optim_wrapper = build_optim_wrapper(cfg, model, precision)
    loader = Runner.build_dataloader(copy.deepcopy(cfg.train_dataloader), seed=seed)
    losses = []
    with PeakMemory(device) as memory:
        for _, batch in zip(range(iterations), itertools.cycle(loader)):
            log_vars = model.train_step(batch, optim_wrapper)
            losses.append(float(log_vars['loss']))
    weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return losses, memory.peak, weights


def precisions(device, report):
    if device.type != 'cuda':
        report.skip('AMP training', "mmengine's AmpOptimWrapper needs an accelerator: fp32 on CPU")
        return ['fp32']
    if not torch.cuda.is_bf16_supported():
        report.skip('bf16 AMP training', 'this GPU has no bf16')
        return ['float16']
    return ['float16', 'bfloat16']


def check_training(report, device, plan, configs):
    report.heading('Training iterations of the toy configs')
    row = report.table(['config', 'precision', 'iterations', 'losses', 'finite', 'peak memory'])
    for name, (cfg, scope) in configs.items():
        for precision in precisions(device, report):
            try:
                losses, peak, _ = train_iterations(cfg, scope, device, precision, plan.iterations)
                finite = all(np.isfinite(losses))
                result = report.check(f'training {name} {precision}', finite, 'a loss is not finite')
                row([name, precision, len(losses), ' '.join(f'{x:.3f}' for x in losses), result, fmt_mem(peak)])
            except Exception as error:
                row([name, precision, 0, '-', report.check(f'training {name} {precision}', False, repr(error)[:200]),
                     '-'])


def weight_differences(first, second):
    return [k for k in first if not torch.equal(first[k], second[k])]


def check_determinism(report, device, plan, configs):
    from mmengine_plugin import compiled_mmcv_ops
    report.heading('Determinism: two identical short runs, bit for bit')
    report.add('Deterministic algorithms on (as `randomness=dict(deterministic=True)` sets them, warnings only), '
               'the same seed, the same data; the weights after the runs are compared exactly.')
    report.add()
    row = report.table(['run', 'iterations', 'scan backend', 'weights', 'result'])
    torch.use_deterministic_algorithms(True, warn_only=True)
    cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        backend = scan.resolve_backend(None, device)
        precision = 'fp32' if device.type != 'cuda' else 'float16'
        for name, (cfg, scope) in configs.items():
            runs = [train_iterations(cfg, scope, device, precision, plan.iterations)[2] for _ in range(2)]
            differ = weight_differences(*runs)
            detail = f'{len(differ)} of {len(runs[0])} tensors differ (first: {differ[0]})' if differ else ''
            if differ and scope == 'mmdet' and device.type == 'cuda' and compiled_mmcv_ops():
                # mmcv's compiled RoIAlign backward adds with atomics on CUDA: not ours to fix, said as it is.
                result = f'differs: compiled mmcv RoIAlign backward uses atomics ({detail})'
            else:
                result = report.check(f'determinism {name}', not differ, detail)
            row([name, plan.iterations, backend, 'identical' if not differ else detail, result])
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


# ----------------------------------------------------------------------------------------------- speed
def detector_classes(model) -> int:
    """The class count of a two-stage (its first box head) or one-stage detector."""
    head = model.roi_head.bbox_head if hasattr(model, 'roi_head') else model.bbox_head
    return (head[0] if isinstance(head, torch.nn.ModuleList) else head).num_classes


def synthetic_batch(scope, model, size, batch, device):
    """A batch of random images with ground truth: a few boxes and their masks, or a label map."""
    height, width = size
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, height, width), generator=g, dtype=torch.uint8))
        meta = dict(img_shape=size, ori_shape=size, scale_factor=(1.0, 1.0), pad_shape=size)
        if scope == 'mmdet':
            from mmdet.structures import DetDataSample
            from mmdet.structures.mask import BitmapMasks
            from mmengine.structures import InstanceData
            corners = torch.rand(5, 2, 2, generator=g) * torch.tensor([width, height])
            boxes = torch.cat([corners.min(1).values, corners.max(1).values + 16], 1)
            boxes = boxes.clamp(max=torch.tensor([width, height, width, height]) - 1)
            masks = np.zeros((5, height, width), np.uint8)
            for mask, (x1, y1, x2, y2) in zip(masks, boxes.int().tolist()):
                mask[y1:y2, x1:x2] = 1
            sample = DetDataSample(metainfo=meta)
            classes = detector_classes(model)
            sample.gt_instances = InstanceData(bboxes=boxes, labels=torch.randint(0, classes, (5,), generator=g),
                                               masks=BitmapMasks(masks, height, width))
        else:
            from mmengine.structures import PixelData
            from mmseg.structures import SegDataSample
            sample = SegDataSample(metainfo=dict(meta, padding_size=[0, 0, 0, 0]))
            classes = model.decode_head.num_classes
            sample.gt_sem_seg = PixelData(data=torch.randint(0, classes, (1, height, width), generator=g))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def model_speed(report, device, plan, configs):
    precision = 'float16' if device.type == 'cuda' else 'fp32'
    report.heading(f'Speed: models ({precision}, batch {MODEL_BATCH}: a training step and an inference, median of '
                   f'{plan.repeats})')
    if plan.speed_configs == 'toy':
        report.add('On CPU: the toy configs (narrower heads, fewer proposals and RoIs than the published ones).')
        report.add()
    row = report.table(['model', 'backbone', 'input (HxW)', 'params', 'train step', 'train peak mem', 'inference',
                        'inference peak mem'])
    for model_name, (cfg, scope) in configs.items():
        size = plan.detection_size if scope == 'mmdet' else plan.segmentation_size
        variants = [('MambaVision-T', cfg)] + [(n, swap_backbone(cfg, b, c)) for n, (b, c) in COUNTERPARTS.items()]
        for backbone_name, variant in variants:
            if scope == 'mmseg':
                variant.model.data_preprocessor.size = size
            try:
                model = build_model(variant, scope, device).train()
                optim_wrapper = build_optim_wrapper(variant, model, precision)
                batch = synthetic_batch(scope, model, size, MODEL_BATCH, device)
                step, step_mem = measure(lambda: model.train_step(batch, optim_wrapper), device, plan.repeats)
                model.eval()
                with torch.autocast(device.type, dtype=torch.float16, enabled=precision == 'float16'):
                    infer, infer_mem = measure(lambda: model.test_step(batch), device, plan.repeats)
                params = sum(p.numel() for p in model.parameters()) / 1e6
                row([model_name, backbone_name, f'{size[0]}x{size[1]}', f'{params:.1f} M', f'{step:.3f} s',
                     fmt_mem(step_mem), f'{infer:.3f} s', fmt_mem(infer_mem)])
            except Exception as error:
                row([model_name, backbone_name, f'{size[0]}x{size[1]}', '-',
                     report.check(f'speed {model_name} {backbone_name}', False, repr(error)[:200]), '-', '-', '-'])
            if device.type == 'cuda':
                torch.cuda.empty_cache()


def backbone_speed(report, device, plan):
    report.heading('Speed: MambaVision-T backbone and classification shape (224x224)')
    row = report.table(['what', 'batch', 'precision', 'time', 'images/s', 'peak memory', 'published'])
    batch = plan.classification_batch
    amp = device.type == 'cuda'
    model = MambaVision('tiny', out_indices=(3,)).to(device).eval()
    head = torch.nn.Linear(model.dims[-1], 1000).to(device)
    x = torch.randn(batch, 3, 224, 224, device=device)

    def classify():
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            head(model(x)[-1].mean((2, 3)))
    seconds, peak = measure(classify, device, plan.repeats)
    row(['classification (backbone + pooling + linear)', batch, 'AMP fp16' if amp else 'fp32', f'{seconds:.3f} s',
         f'{batch / seconds:.0f}', fmt_mem(peak),
         f'{PUBLISHED_IMAGES_PER_S:,} img/s (A100, batch 128, AMP)' if amp else 'not comparable (CPU)'])
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step():
        optimizer.zero_grad()
        with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            loss = model(x)[-1].float().mean()
        loss.backward()
        optimizer.step()
    seconds, peak = measure(train_step, device, plan.repeats)
    row(['backbone training step', batch, 'AMP fp16' if amp else 'fp32', f'{seconds:.3f} s', f'{batch / seconds:.0f}',
         fmt_mem(peak), '-'])


# ----------------------------------------------------------------------------------------------- entry point
TOY_CONFIGS = {'toy Cascade Mask R-CNN': 'mmdet/toy/cascade-mask-rcnn_mambavision-t_fpn_toy-shapes.py',
               'toy UPerNet': 'mmseg/toy/upernet_mambavision-t_toy-shapes-256x256.py'}
PUBLISHED_CONFIGS = {'Cascade Mask R-CNN': 'mmdet/cascade-mask-rcnn_mambavision-t_fpn_3x_coco.py',
                     'UPerNet': 'mmseg/upernet_mambavision-t_160k_ade20k-512x512.py'}


def run(device, configs_dir, out, quick=False):
    """Run every section on ``device`` and write the report to ``out``; returns the number of failed checks."""
    from mmengine.logging import MMLogger

    from mmengine_plugin.testing import generate_ade20k, generate_coco
    MMLogger.get_instance('gpu_check', log_level='ERROR')  # the current logger: no model-building chatter
    plan = PLANS[device.type]
    report = Report()
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
            cfg, scope = load_config(os.path.join(configs_dir, path), plan)
            toy[name] = use_data(cfg, roots[scope]), scope
        check_training(report, device, plan, toy)
        check_determinism(report, device, plan, toy)
    scan_speed(report, device, plan, backends)
    backbone_speed(report, device, plan)
    if quick:
        report.skip('model speed', '--quick')
    else:
        paths = TOY_CONFIGS if plan.speed_configs == 'toy' else PUBLISHED_CONFIGS
        model_speed(report, device, plan, {name.replace('toy ', ''): load_config(os.path.join(configs_dir, path), plan)
                                           for name, path in paths.items()})
    report.add()
    report.add(f'took {(time.perf_counter() - started) / 60:.1f} min')
    text = report.finish()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        f.write(text)
    return len(report.failures)
