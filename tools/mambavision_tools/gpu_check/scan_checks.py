"""The selective-scan sections of the GPU check: every backend that runs here against the float64 reference,
and their speed."""
import torch

from mambavision_backbone import scan
from mambavision_backbone.scan import random_scan_inputs, relative_error, scan_with_gradients
from mambavision_mm.analysis.measure import fmt_mem, measure

from .plans import INPUT_DTYPES, TOLERANCES


def scan_inputs(shape, strong_decay, seed=0):
    """float64 inputs of the scan and a gradient of its output; ``strong_decay``: decays that underflow to 0
    inside a chunk and across chunks."""
    batch, channels, state, length = shape
    inputs = random_scan_inputs(*shape, seed=seed)
    if strong_decay:
        inputs['A'] = -torch.linspace(0.1, 8.0, channels * state, dtype=torch.float64).reshape(channels, state)
        inputs['delta'] = inputs['delta'] * 3
    grad_y = torch.randn(batch, channels, length, generator=torch.Generator().manual_seed(seed + 1),
                         dtype=torch.float64)
    return inputs, grad_y


def run_scan(inputs, grad_y, backend, autocast_dtype=None):
    """y and the gradients of every input, from one forward and backward of ``backend``."""
    with torch.autocast(grad_y.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
        return scan_with_gradients(inputs, grad_y, backend=backend, delta_softplus=True)


def scan_backends(device, report):
    """The scan backends that can run on ``device`` (torch always); the others go to the report's skipped list."""
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


def triton_interpreter_on() -> bool:
    """Whether Triton's kernels run under its interpreter (TRITON_INTERPRET=1), as they must on CPU."""
    from mambavision_backbone.scan_triton import interpreter_enabled
    return interpreter_enabled()


def check_scan(report, device, plan, backends):
    """Each backend's output and gradients against the float64 reference, per input precision, in a table."""
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
    """Time and peak memory of each backend at the plan's speed shapes, forward and forward+backward."""
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
