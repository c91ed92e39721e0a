"""What the start-up data checks (DatasetCheckHook) cost next to mmdet's own build of a COCO-size training set.

    python tools/analysis_tools/benchmark_dataset_checks.py [--images 20000] [--annotations 145000] [--keep DIR]

Generates a COCO-format annotation file of that size (empty image files, 12-point polygon masks, 80
categories), then in one fresh process: builds mmdet's CocoDataset as the published recipes do (empty images
filtered, masks loaded), then runs ``check_dataset`` on it. Reports the time of each and their peak memory:
the build's is the growth of the peak resident set over the process after its imports, the checks' is what
they add to that peak. The CPU model heads the output.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from mambavision_mm.analysis.environment import cpu_model


def resident_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def peak_resident_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def measure(data_root: str) -> dict:
    """Build the dataset and check it, in this process; times in seconds, memory in MB."""
    from mmdet.datasets import CocoDataset
    from mmengine.registry import init_default_scope

    import mmdet_plugin  # noqa: F401  (registers the plugin, as a config's custom_imports does)
    from mambavision_mm.datasets.dataset_checks import check_dataset
    init_default_scope('mmdet')
    with open(os.path.join(data_root, 'annotations/instances_train2017.json')) as f:
        classes = tuple(c['name'] for c in json.load(f)['categories'])
    base = resident_mb()
    start = time.perf_counter()
    dataset = CocoDataset(data_root=data_root, ann_file='annotations/instances_train2017.json',
                          data_prefix=dict(img='train2017/'), metainfo=dict(classes=classes),
                          filter_cfg=dict(filter_empty_gt=True, min_size=32),
                          pipeline=[dict(type='LoadImageFromFile'),
                                    dict(type='LoadAnnotations', with_bbox=True, with_mask=True)])
    dataset.full_init()
    built = time.perf_counter()
    build_peak = peak_resident_mb()
    check_dataset(dataset)
    checked = time.perf_counter()
    return dict(samples=len(dataset), build_seconds=built - start, check_seconds=checked - built,
                build_mb=build_peak - base, check_mb=peak_resident_mb() - build_peak)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=20000)
    parser.add_argument('--annotations', type=int, default=145000)
    parser.add_argument('--keep', help='generate into (and keep) this folder instead of a temporary one')
    parser.add_argument('--measure', help=argparse.SUPPRESS)  # the child process: measure this data root
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    from mambavision_mm.testing import generate_coco_annotations
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or scratch
        start = time.perf_counter()
        path = generate_coco_annotations(root, args.images, args.annotations)
        print(f'generated {args.images} images / {args.annotations} annotations '
              f'({os.path.getsize(path) / 2**20:.0f} MB of JSON) in {time.perf_counter() - start:.0f} s')
        child = subprocess.run([sys.executable, __file__, '--measure', root], capture_output=True, text=True)
        if child.returncode:
            sys.exit(child.stderr[-3000:])
        result = json.loads(child.stdout.strip().splitlines()[-1])
    print(f'CPU: {cpu_model()}; {result["samples"]} training samples after filtering\n')
    print('| | seconds | peak memory (MB) |\n|---|---|---|')
    print(f'| mmdet CocoDataset build | {result["build_seconds"]:.3f} | {result["build_mb"]:.0f} |')
    print(f'| data checks | {result["check_seconds"]:.3f} | +{result["check_mb"]:.0f} |')
    memory = f'{result["check_mb"] / result["build_mb"]:.0%}' if result['build_mb'] > 0 else 'n/a'
    print(f'| checks / build | {result["check_seconds"] / result["build_seconds"]:.0%} | {memory} |')


if __name__ == '__main__':
    main()
