"""Check that the environment has everything the toolbox needs, and say how to fix what is missing."""
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
     'mmcv-lite without the plugin loaded first: import mambavision_mm, or run make venv (its .pth file)'),
    ('mmdet', 'MMDetection 3.3.0', 'pip install --no-deps -r requirements/openmmlab.txt'),
    ('mmseg', 'MMSegmentation 1.2.2 (needs ftfy and regex)', 'pip install -r requirements/runtime.txt '
     'and pip install --no-deps -r requirements/openmmlab.txt'),
    ('pycocotools', 'COCO evaluation', 'pip install -r requirements/runtime.txt'),
    ('cv2', 'OpenCV (headless)', 'pip install -r requirements/runtime.txt'),
    ('mambavision_backbone', 'this project: the backbone', 'pip install --no-deps -e .'),
    ('mambavision_mm', "this project: the plugins' shared components", 'pip install --no-deps -e .'),
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

    from mambavision_mm import compiled_mmcv_ops
    ops = 'compiled ops' if compiled_mmcv_ops() else 'no compiled ops: RoIAlign and NMS in PyTorch'
    print(f'[check_env] ok: torch {torch.__version__}, mmengine {mmengine.__version__}, '
          f'mmcv {mmcv.__version__} ({ops}), mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, '
          f'CUDA available: {torch.cuda.is_available()}')
    print(f'[check_env] optional: {optional_report()}')
    from mambavision_mm.analysis.environment import gpu_report
    for line in gpu_report():
        print(f'[check_env] {line}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
