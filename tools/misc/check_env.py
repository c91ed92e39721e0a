"""Check that the environment has everything the toolbox needs, and say how to fix what is missing."""
import ctypes
import importlib
import importlib.metadata
import importlib.util
import sys

# (module, what it proves, how to fix it when the import fails)
CHECKS = [
    ('torch', 'PyTorch', 'make venv (installs torch 2.13.0), or install a CUDA build of torch first'),
    ('mmengine', 'mmengine 0.10.7', 'pip install --no-deps -r requirements/openmmlab.txt'),
    ('mmcv.ops', "mmcv 2.1.0's ops (compiled, or RoIAlign and NMS in PyTorch without them)",
     'compiled mmcv built for another torch: make venv MMCV=lite (no compiling), or MMCV=compiled to rebuild; '
     'mmcv-lite without the plugin loaded first: import mmengine_plugin, or run make venv (its .pth file)'),
    ('mmdet', 'MMDetection 3.3.0', 'pip install --no-deps -r requirements/openmmlab.txt'),
    ('mmseg', 'MMSegmentation 1.2.2 (needs ftfy and regex)', 'pip install -r requirements/runtime.txt '
     'and pip install --no-deps -r requirements/openmmlab.txt'),
    ('pycocotools', 'COCO evaluation', 'pip install -r requirements/runtime.txt'),
    ('cv2', 'OpenCV (headless)', 'pip install -r requirements/runtime.txt'),
    ('mambavision_backbone', 'this project: the backbone', 'pip install --no-deps -e .'),
    ('mmengine_plugin', "this project: the plugins' shared components", 'pip install --no-deps -e .'),
    ('mmdet_plugin', 'this project: the MMDetection plugin', 'pip install --no-deps -e .'),
    ('mmseg_plugin', 'this project: the MMSegmentation plugin', 'pip install --no-deps -e .'),
]

# Optional packages: (distribution, module, what it enables, how to install it)
OPTIONAL = [
    ('triton', 'triton', "the 'triton' selective-scan backend", 'pip install --no-deps -r requirements/triton.txt'),
    ('mamba-ssm', 'mamba_ssm', "the 'cuda' selective-scan backend (CUDA only)", 'pip install -e .[cuda]'),
    ('onnxscript', 'onnxscript', 'ONNX export', 'pip install -r requirements/deploy.txt'),
    ('onnxruntime', 'onnxruntime', 'ONNX Runtime inference', 'pip install -r requirements/deploy.txt'),
]


def optional_report() -> str:
    found = []
    for distribution, module, what, fix in OPTIONAL:
        if importlib.util.find_spec(module) is None:
            found.append(f'{distribution} absent ({what}: {fix})')
        else:
            found.append(f'{distribution} {importlib.metadata.version(distribution)}')
    return ', '.join(found)


def driver_cuda_version():
    """The newest CUDA version the installed NVIDIA driver supports, as (major, minor), or None without a driver."""
    try:
        libcuda = ctypes.CDLL('libcuda.so.1')
    except OSError:
        return None
    version = ctypes.c_int()
    if libcuda.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None
    return version.value // 1000, version.value % 1000 // 10


def _arch_number(arch: str, prefix: str):
    """'sm_86' -> 86 for prefix 'sm_' ('sm_90a' -> 90), else None."""
    digits = arch[len(prefix):].rstrip('af')
    return int(digits) if arch.startswith(prefix) and digits.isdigit() else None


def torch_kernels_for(capability, arch_list):
    """How torch runs on a GPU of this compute capability: 'native', 'ptx' (compiled at first use) or None."""
    major, minor = capability
    binaries = [n for n in (_arch_number(arch, 'sm_') for arch in arch_list) if n is not None]
    if any(n // 10 == major and n % 10 <= minor for n in binaries):  # binaries run on later minor versions
        return 'native'
    ptx = [n for n in (_arch_number(arch, 'compute_') for arch in arch_list) if n is not None]
    if any(n <= major * 10 + minor for n in ptx):
        return 'ptx'
    return None


def gpu_report() -> list:
    """One line per GPU fact a user needs, each with its fix when it is a problem."""
    import torch

    from mambavision_backbone.scan import first_call_problem, mamba_ssm_available, triton_available
    if not torch.cuda.is_available():
        built = f'built for CUDA {torch.version.cuda}' if torch.version.cuda else 'a CPU-only build'
        return [f'no CUDA device (torch {torch.__version__} is {built}); on a GPU machine: install a CUDA build '
                'of torch (pip install torch --index-url https://download.pytorch.org/whl/cu124) before make venv']
    lines = []
    driver = driver_cuda_version()
    torch_cuda = tuple(int(v) for v in torch.version.cuda.split('.')[:2])
    if driver is None:
        lines.append(f"torch's CUDA {torch.version.cuda}; driver version unknown (libcuda.so.1 not loadable)")
    elif driver[0] < torch_cuda[0]:
        lines.append(f"PROBLEM: torch is built for CUDA {torch.version.cuda}, the driver supports CUDA up to "
                     f'{driver[0]}.{driver[1]}; fix: update the NVIDIA driver, or install a torch built for '
                     f'CUDA {driver[0]}.x')
    else:
        lines.append(f"torch's CUDA {torch.version.cuda}, driver supports CUDA {driver[0]}.{driver[1]}: ok")
    for index in range(torch.cuda.device_count()):
        capability = torch.cuda.get_device_capability(index)
        name = f'GPU {index}: {torch.cuda.get_device_name(index)} (compute capability {capability[0]}.{capability[1]})'
        kernels = torch_kernels_for(capability, torch.cuda.get_arch_list())
        if kernels is None:
            lines.append(f'PROBLEM: {name}: this torch has no kernels for it (built for '
                         f'{" ".join(torch.cuda.get_arch_list())}); fix: install a torch build that supports it')
            continue
        note = '' if kernels == 'native' else ' (through PTX: the first run compiles kernels, slowly)'
        lines.append(f'{name}: torch ok{note}')
        device = torch.device('cuda', index)
        for backend, available, install in (('cuda', mamba_ssm_available(), 'pip install -e .[cuda]'),
                                             ('triton', triton_available(), 'pip install --no-deps -r '
                                                                             'requirements/triton.txt')):
            if not available:
                lines.append(f'  {backend!r} scan backend: not installed ({install})')
                continue
            problem = first_call_problem(backend, device)
            lines.append(f'  {backend!r} scan backend: ' + ('ok (matches the reference)' if problem is None
                                                            else f'PROBLEM: {problem}'))
    return lines


def main() -> int:
    failures = []
    for module, what, fix in CHECKS:
        try:
            importlib.import_module(module)
        except Exception as exc:  # an import can fail with more than ImportError (ABI, missing symbol)
            failures.append(f'  - {module} ({what}): {type(exc).__name__}: {exc}\n    fix: {fix}')
    if failures:
        print('[check_env] the environment is incomplete:\n' + '\n'.join(failures), file=sys.stderr)
        return 1
    import mmcv
    import mmdet
    import mmengine
    import mmseg
    import torch

    from mmengine_plugin import compiled_mmcv_ops
    ops = 'compiled ops' if compiled_mmcv_ops() else 'no compiled ops: RoIAlign and NMS in PyTorch'
    print(f'[check_env] ok: torch {torch.__version__}, mmengine {mmengine.__version__}, '
          f'mmcv {mmcv.__version__} ({ops}), mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, '
          f'CUDA available: {torch.cuda.is_available()}')
    print(f'[check_env] optional: {optional_report()}')
    for line in gpu_report():
        print(f'[check_env] {line}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
