"""The model sections of the GPU check: the backbone on the device against the CPU, training iterations of
the toy configs, and two identical short runs compared bit for bit."""
import copy
import itertools

import numpy as np
import torch

from mambavision_backbone import MambaVision, scan
from mambavision_backbone.scan import relative_error
from mambavision_mm.analysis.measure import PeakMemory, fmt_mem
from mambavision_mm.apis.models import build_model, read_config


def check_backbone_against_cpu(report, device):
    """MambaVision-T's features on ``device`` against the same weights on the CPU, fp32."""
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


def toy_config(path, plan):
    """(config, its scope) with no pretrained weights and, on CPU, the plan's windows for MambaVision."""
    cfg = read_config(path)
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


def build_train_model(cfg, device):
    """The config's model on ``device`` in training mode, SyncBN as BN (one process)."""
    from mmengine.model import revert_sync_batchnorm
    return revert_sync_batchnorm(build_model(cfg)).to(device).train()


def build_optim_wrapper(cfg, model, precision):
    """The config's optimizer wrapper for ``model``, in fp32 or as an AmpOptimWrapper of ``precision``."""
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


def train_iterations(cfg, device, precision, iterations, seed=0):
    """(losses per iteration, peak memory, final weights) of ``iterations`` steps on the config's data."""
    from mmengine.runner import Runner, set_random_seed
    set_random_seed(seed)
    model = build_train_model(cfg, device)
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
    """The training precisions to check on ``device``: AMP's on CUDA (bf16 where the GPU has it), else fp32."""
    if device.type != 'cuda':
        report.skip('AMP training', "mmengine's AmpOptimWrapper needs an accelerator: fp32 on CPU")
        return ['fp32']
    if not torch.cuda.is_bf16_supported():
        report.skip('bf16 AMP training', 'this GPU has no bf16')
        return ['float16']
    return ['float16', 'bfloat16']


def check_training(report, device, plan, configs):
    """A few training iterations of each toy config per precision: finite losses and the peak memory."""
    report.heading('Training iterations of the toy configs')
    row = report.table(['config', 'precision', 'iterations', 'losses', 'finite', 'peak memory'])
    for name, (cfg, scope) in configs.items():
        for precision in precisions(device, report):
            try:
                losses, peak, _ = train_iterations(cfg, device, precision, plan.iterations)
                finite = all(np.isfinite(losses))
                result = report.check(f'training {name} {precision}', finite, 'a loss is not finite')
                row([name, precision, len(losses), ' '.join(f'{x:.3f}' for x in losses), result, fmt_mem(peak)])
            except Exception as error:
                row([name, precision, 0, '-', report.check(f'training {name} {precision}', False, repr(error)[:200]),
                     '-'])


def weight_differences(first, second):
    """The names of the tensors in which two state dicts differ."""
    return [k for k in first if not torch.equal(first[k], second[k])]


def check_determinism(report, device, plan, configs):
    """Two identical short runs under deterministic algorithms must end with the same weights, bit for bit."""
    from mambavision_mm import compiled_mmcv_ops
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
            runs = [train_iterations(cfg, device, precision, plan.iterations)[2] for _ in range(2)]
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
