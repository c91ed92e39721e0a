"""What a GPU user's environment can run: torch's CUDA against the driver, torch's kernels for each GPU, the
compiled selective-scan backends (tools/misc/check_env.py, the GPU check's report)."""
import ctypes
import importlib.metadata
import platform
import sys

import torch

from mambavision_backbone import scan


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
    if not torch.cuda.is_available():
        built = f'built for CUDA {torch.version.cuda}' if torch.version.cuda else 'a CPU-only build'
        return [f'no CUDA device (torch {torch.__version__} is {built}); on a GPU machine: install a CUDA build '
                'of torch (pip install torch --index-url https://download.pytorch.org/whl/cu124)']
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
        for backend, available, install in (
                ('cuda', scan.mamba_ssm_available(), 'pip install mamba-ssm'),
                ('triton', scan.triton_available(), 'pip install --no-deps triton')):
            if not available:
                lines.append(f'  {backend!r} scan backend: not installed ({install})')
                continue
            problem = scan.first_call_problem(backend, device)
            lines.append(f'  {backend!r} scan backend: ' + ('ok (matches the reference)' if problem is None
                                                            else f'PROBLEM: {problem}'))
    return lines


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return 'not installed'


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what platform reports."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line(device: torch.device) -> str:
    """What a benchmark's figures were measured on: the GPU on CUDA, else the CPU model and torch's threads,
    and torch's version."""
    where = torch.cuda.get_device_name(device) if device.type == 'cuda' else (
        f'{cpu_model()}, {torch.get_num_threads()} threads')
    return f'{where}, torch {torch.__version__}'


def describe_environment(device: torch.device) -> list:
    """(item, value) rows: the hardware and every package version a result on ``device`` depends on."""
    import mmcv  # installed as mmcv or mmcv-lite: its own version, whichever distribution

    from mambavision_mm import compiled_mmcv_ops
    rows = []
    if device.type == 'cuda':
        capability = torch.cuda.get_device_capability(device)
        driver = driver_cuda_version()
        rows += [('GPU', f'{torch.cuda.get_device_name(device)}, compute capability {capability[0]}.{capability[1]}, '
                         f'{torch.cuda.get_device_properties(device).total_memory / 2 ** 30:.0f} GiB'),
                 ('driver', 'unknown' if driver is None else f'supports CUDA {driver[0]}.{driver[1]}')]
    rows += [('CPU', f'{cpu_model()}, {torch.get_num_threads()} threads'),
             ('Python', sys.version.split()[0]),
             ('torch', f'{torch.__version__} (CUDA {torch.version.cuda})' if torch.version.cuda else torch.__version__),
             ('triton', _version('triton')),
             ('mamba-ssm', _version('mamba-ssm')),
             ('mmcv', f'{mmcv.__version__}, ' + ('compiled ops' if compiled_mmcv_ops()
                                                else 'no compiled ops (RoIAlign and NMS in PyTorch)')),
             ('mmengine / mmdet / mmseg',
              ' / '.join(_version(name) for name in ('mmengine', 'mmdet', 'mmsegmentation')))]
    return rows
