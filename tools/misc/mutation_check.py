"""Check the test suite by breaking the code: apply deliberate bugs one at a time and run the tests that guard it.

    python tools/misc/mutation_check.py [--only NAME ...] [--list] [--keep SCRATCH]

The repository (without .git, .venv and generated folders) is copied once to a scratch folder, where every
listed test must first pass unmutated. Each mutation then replaces one exact piece of source there, runs its
tests as ``make test`` runs them (slow tests left out, but for mutations only slow tests catch) with this
interpreter and ``PYTHONPATH`` pointing at the scratch copy and its ``tools/`` folder, where the installed tool
helpers (``mambavision_tools``) live (so that the tests and subprocesses such as tools/train.py import the
mutated code, not the installed checkout's), and is undone. A mutation that makes a test fail is "caught"; one
the tests pass through "SURVIVED", and the exit status is 1.
Tests that cannot run at all (a collection error) and a mutation whose text is no longer in the source stop
the check, so neither counts as caught.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import List, NamedTuple, Tuple

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
# Not copied: at the top of the repository, and anywhere.
IGNORED_AT_TOP = {'.git', '.venv', 'work_dirs', 'demo_output', 'data', 'checkpoints'}
IGNORED = {'__pycache__', '.pytest_cache', 'mambavision_mm.egg-info'}
PYTEST_TESTS_FAILED = 1  # pytest's exit status when tests ran and some failed


class Mutation(NamedTuple):
    name: str
    why: str  # what a user would suffer
    path: str
    old: str
    new: str
    tests: Tuple[str, ...]
    slow: bool = False  # its tests are marked slow: run them too


MUTATIONS = [
    Mutation('window-transposed', 'windows cut column-major: every attention and Mamba block mixes the wrong tokens',
             'mambavision_backbone/layers.py', 'x.permute(0, 2, 4, 3, 5, 1)', 'x.permute(0, 4, 2, 5, 3, 1)',
             ('tests/test_mambavision_backbone/test_model.py',)),
    Mutation('window-off-by-one', 'a stage runs windows one pixel smaller than configured',
             'mambavision_backbone/model.py', 'ws = self.window_size\n', 'ws = self.window_size - 1\n',
             ('tests/test_mambavision_backbone/test_model.py',)),
    Mutation('attention-blocks-shifted', 'odd-depth stages put self-attention in the wrong blocks',
             'mambavision_backbone/model.py', 'range(depth // 2 + 1, depth) if depth % 2 else',
             'range(depth // 2, depth) if depth % 2 else', ('tests/test_mambavision_backbone/test_model.py',)),
    Mutation('default-out-indices', "the backbone's default outputs change",
             'mambavision_backbone/model.py', 'out_indices: Sequence[int] = (0, 1, 2, 3)',
             'out_indices: Sequence[int] = (1, 2, 3)', ('tests/test_mambavision_backbone/test_model.py',)),
    Mutation('softplus-inverted', 'the selective scan applies softplus to delta when told not to, and not when told',
             'mambavision_backbone/scan_torch.py', '    if delta_softplus:\n', '    if not delta_softplus:\n',
             ('tests/test_mambavision_backbone/test_scan.py',)),
    Mutation('classifier-kept', "published files' classifier norm is loaded as backbone weights",
             'mambavision_backbone/checkpoint.py', "CLASSIFIER_PREFIXES = ('head.', 'norm.')",
             "CLASSIFIER_PREFIXES = ('head.',)", ('tests/test_mambavision_backbone/test_checkpoint.py',)),
    Mutation('converter-drops-a-key', 'converted checkpoints lose the Mamba state matrices (A_log)',
             'tools/mambavision_tools/convert_checkpoint.py', "for k, v in state_dict.items()},",
             "for k, v in state_dict.items() if not k.endswith('A_log')},",
             ('tests/test_tools/test_convert_checkpoint.py',)),
    Mutation('allow-list-without-int64', "mmengine's own checkpoints (numpy int64 values) no longer load safely",
             'mambavision_backbone/checkpoint.py', "codes = ('b1', 'i1', 'i2', 'i4', 'i8',",
             "codes = ('b1', 'i1', 'i2', 'i4',", ('tests/test_mambavision_mm/test_engine/test_checkpoint.py',)),
    Mutation('full-unpickle-fallback', 'a refused checkpoint is fully unpickled after all: a crafted file runs code',
             'mambavision_backbone/checkpoint.py', '                raise UnsafeCheckpointError(message) from None',
             '                return torch.load(path, map_location=map_location, weights_only=False)',
             ('tests/test_mambavision_mm/test_engine/test_checkpoint.py',
              'tests/test_mambavision_backbone/test_checkpoint.py')),
    Mutation('url-loads-through-torch-hub', "URLs go through mmengine's own loader again: a download is fully "
             'unpickled', 'mambavision_mm/engine/checkpoint.py',
             "@CheckpointLoader.register_scheme(prefixes=('http://', 'https://'), force=True)\n", '',
             ('tests/test_mambavision_mm/test_engine/test_checkpoint.py',)),
    Mutation('damaged-archive-loaded', 'a checkpoint whose bytes changed on disk loads with altered weights',
             'mambavision_backbone/checkpoint.py', '        check_archive(path)\n', '        pass\n',
             ('tests/test_mambavision_backbone/test_checkpoint.py',)),
    Mutation('cache-keyed-by-file-name', 'a second URL serving a file of the same name gets the first one\'s weights',
             'mambavision_backbone/hub.py', "'checkpoints', *folders, parts[-1])", "'checkpoints', parts[-1])",
             ('tests/test_mambavision_backbone/test_hub.py',)),
    Mutation('download-cached-before-checked', 'an HTML page or a cut-short download is cached as the checkpoint',
             'mambavision_backbone/hub.py', '        problem = download_problem(partial)\n',
             '        problem = None\n', ('tests/test_mambavision_backbone/test_hub.py',)),
    Mutation('plain-checkpoint-keeps-message-hub', 'checkpoints need a full unpickle (weights_only=False) again',
             'mambavision_mm/engine/hooks/plain_checkpoint_hook.py', "for key in ('meta', 'message_hub'):",
             "for key in ('meta',):", ('tests/test_mambavision_mm/test_engine/test_hooks.py',)),
    Mutation('checkpoint-copied-not-renamed', 'a kill during a save leaves a half-written file under a checkpoint '
             "name", 'mambavision_mm/engine/checkpoint_files.py',
             '    _flush_to_disk(written)\n    os.replace(written, path)\n',
             '    _flush_to_disk(written)\n    with open(written, \'rb\') as source, open(path, \'wb\') as target:\n'
             "        for chunk in iter(lambda: source.read(1 << 20), b''):\n            target.write(chunk)\n"
             '    os.remove(written)\n',
             ('tests/test_mambavision_mm/test_engine/test_fault_injection.py',), slow=True),
    Mutation('checkpoint-check-returns-early', '--resume starts from a truncated checkpoint and crashes',
             'mambavision_mm/engine/checkpoint_files.py',
             "        return 'is empty (0 bytes)'\n    problem = archive_problem(path)",
             "        return 'is empty (0 bytes)'\n    return None\n    problem = archive_problem(path)",
             ('tests/test_mambavision_mm/test_engine/test_hooks.py',)),
    Mutation('failed-save-left-on-disk', 'a save that ran out of space leaves its partial file taking the space',
             'mambavision_mm/engine/checkpoint_files.py',
             '        except OSError:\n            remove_if_present(temporary)',
             '        except OSError:\n            pass', ('tests/test_mambavision_mm/test_engine/test_hooks.py',)),
    Mutation('unwritable-folder-found-late', 'a read-only checkpoint folder is found at the first save, hours in',
             'mambavision_mm/engine/hooks/safe_checkpoint_hook.py', '        self.check_writable(self.out_dir)\n',
             '', ('tests/test_mambavision_mm/test_engine/test_hooks.py',)),
    Mutation('worker-record-not-kept', 'a killed data-loader worker is reported without the samples it held',
             'mambavision_mm/datasets/worker_record.py', '        self.loading[row + 1] = len(held)\n', '',
             ('tests/test_mambavision_mm/test_datasets/test_seeded_sampler.py',)),
    Mutation('bad-sample-count-not-logged', 'skipped bad samples go uncounted at the end of an epoch',
             'mambavision_mm/engine/hooks/dataset_check_hook.py', '        if fetcher is None:\n            return\n',
             '        return\n',
             ('tests/test_mambavision_mm/test_engine/test_fault_injection.py::test_an_image_corrupted_mid_run_is_named_and_skipped_only_when_configured',),
             slow=True),
    Mutation('skip-applies-the-step', "action='skip' trains on a NaN loss anyway",
             'mambavision_mm/engine/hooks/non_finite_loss_hook.py',
             "if not self.gradients_finite and self.action != 'warn':", 'if False:',
             ('tests/test_mambavision_mm/test_engine/test_hooks.py',)),
    Mutation('runner-ignores-resume-choice', 'a job restarted by torchrun or Slurm trains from the start',
             'mambavision_mm/engine/runner.py', '                set_load_or_resume(self, *choice)\n',
             '                pass\n', ('tests/test_mambavision_mm/test_engine/test_hooks.py',)),
    Mutation('nan-option-ignored', '--cfg-options non_finite_loss=skip still stops the run',
             'mambavision_mm/engine/hooks/non_finite_loss_hook.py', "runner.cfg.get('non_finite_loss', 'stop')",
             "'stop'", ('tests/test_mambavision_mm/test_engine/test_hooks.py',)),
    Mutation('iteration-seeding-never-fires', 'a resumed run no longer repeats the interrupted one',
             'mambavision_mm/engine/hooks/exact_resume_hook.py',
             '        seed_everything(derive_seed(runner.seed, runner.iter))', '        pass',
             ('tests/test_mambavision_mm/test_engine/test_crash_safe_training.py::test_segmentation_killed_mid_run_resumes_to_the_same_weights',)),
    Mutation('amp-kept-on-cpu', 'the published AMP recipes refuse to start without a GPU',
             'mambavision_mm/engine/optimizers.py', "get_device() == 'cpu'", "get_device() == 'cuda'",
             ('tests/test_mambavision_mm/test_engine/test_optimizers.py',)),
    Mutation('seed-ignores-position', 'every sample of an epoch gets the same augmentation draws',
             'mambavision_mm/datasets/seeding.py', '[int(k) for k in keys]', '[int(k) for k in keys[:-1]]',
             ('tests/test_mambavision_mm/test_datasets/test_seeded_sampler.py',)),
    Mutation('truncated-jpeg-accepted', 'a JPEG cut short trains as grey rows instead of being named',
             'mambavision_mm/datasets/sample_files.py',
             "return None if kind[0] in f.read() else f'is a truncated {kind[1]}'", 'return None',
             ('tests/test_mambavision_mm/test_datasets/test_seeded_sampler.py',)),
    Mutation('unknown-categories-accepted', 'annotations of categories outside the classes are dropped silently',
             'mambavision_mm/datasets/dataset_checks.py', '    if not unknown:\n', '    if True:\n',
             ('tests/test_mambavision_mm/test_datasets/test_dataset_checks.py',)),
    Mutation('config-arguments-unchecked', 'a misspelt backbone argument gives a bare TypeError without the list',
             'mambavision_mm/models/backbones/mambavision.py', '            if name not in known:',
             '            if False:', ('tests/test_mambavision_mm/test_models/test_mambavision.py',)),
    Mutation('label-check-off-by-one', 'label value num_classes reaches the loss instead of being named',
             'mmseg_plugin/transforms.py', '(seg >= self.num_classes)', '(seg > self.num_classes)',
             ('tests/test_mmseg_plugin/test_transforms.py',)),
    Mutation('onnx-pooling-bins', "exported UPerNet pools the pyramid with the wrong bins at sizes that don't divide",
             'mambavision_mm/deploy/onnx_export.py', '((i + 1) * height + out_h - 1) // out_h',
             '((i + 1) * height) // out_h', ('tests/test_mambavision_mm/test_deploy/test_onnx_export.py',)),
    Mutation('onnx-roi-align-unshifted', "exported detectors pool every RoI half a pixel off (ONNX Runtime's default "
             'RoiAlign mode)', 'mambavision_mm/deploy/onnx_ops.py',
             "batch_indices, coordinate_transformation_mode='half_pixel'",
             "batch_indices, coordinate_transformation_mode='output_half_pixel'",
             ('tests/test_mambavision_mm/test_deploy/test_onnx_ops.py',)),
    Mutation('onnx-nms-across-classes', 'exported detectors suppress boxes of one class with boxes of another',
             'mambavision_mm/deploy/heads/common.py', 'offsets = groups.to(boxes) * (max_coordinate + 1)',
             'offsets = groups.to(boxes) * 0', ('tests/test_mambavision_mm/test_deploy/test_onnx_ops.py',)),
    Mutation('onnx-rpn-nms-across-levels', "exported two-stage detectors run one RPN NMS across FPN levels, not "
             "mmdet's per-level NMS", 'mambavision_mm/deploy/heads/anchor_head.py',
             'groups = torch.cat(all_groups) if proposals else labels', 'groups = labels',
             ('tests/test_mambavision_mm/test_deploy/test_onnx_ops.py',)),
    Mutation('painting-without-boundaries', 'painted segmentations lose their region boundaries',
             'mambavision_mm/apis/painting.py', 'painted[boundary] = 255', 'painted[boundary] = 0',
             ('tests/test_mambavision_mm/test_apis/test_inference.py',)),
    Mutation('test-tool-ignores-checkpoint', 'tools/test.py evaluates an untrained model',
             'tools/test.py', 'cfg.load_from = args.checkpoint', 'cfg.load_from = None',
             ('tests/test_tools/test_mmdet_tools.py::test_packaged_test_by_url_and_ours_by_file_print_the_same_predictions',)),
    Mutation('triton-backward-atomic-when-deterministic', 'deterministic training still sums dB and dC with atomics',
             'mambavision_backbone/scan_triton.py', 'deterministic = torch.are_deterministic_algorithms_enabled()',
             'deterministic = False', ('tests/test_mambavision_backbone/test_scan_triton.py',)),
    Mutation('first-call-never-checked', 'a mamba-ssm built for another GPU crashes training instead of falling back',
             'mambavision_backbone/scan.py', "if backend not in FIXES or torch.compiler.is_compiling():",
             'if True:', ('tests/test_mambavision_backbone/test_scan.py',)),
    Mutation('every-stage-built', 'a backbone asked for fewer outputs computes and holds unused stages (DDP stops)',
             'mambavision_backbone/model.py', 'for i in range(last + 1):', 'for i in range(4):',
             ('tests/test_mambavision_backbone/test_model.py',)),
    Mutation('partial-load-drops-misfits', 'fine-tuning prints tables of mismatched and missing keys again',
             'mambavision_mm/engine/hooks/partial_load_hook.py', '                state[key] = own[name]\n',
             '                del state[key]\n', ('tests/test_mambavision_mm/test_engine/test_partial_load.py',)),
    Mutation('masks-never-checked', 'boxes-only data given to the mask template fails deep inside a worker',
             'mambavision_mm/datasets/dataset_checks.py',
             "return any(getattr(t, 'with_mask', False) for t in transforms)", 'return False',
             ('tests/test_mambavision_mm/test_datasets/test_dataset_checks.py',)),
    Mutation('gpu-check-tolerance-ignored', 'the GPU check passes a scan backend that is off the reference',
             'tools/mambavision_tools/gpu_check/scan_checks.py', 'ok = y_error <= y_tol and', 'ok = True or',
             ('tests/test_tools/test_gpu_check.py::test_a_scan_backend_off_the_reference_fails_the_report',)),
    Mutation('published-drop-path-changed', 'the T segmentation recipe trains with another stochastic depth',
             'configs/mmseg/upernet_mambavision-t_160k_ade20k-512x512.py', 'drop_path_rate=0.2,',
             'drop_path_rate=0.3,', ('tests/test_configs/',)),
    Mutation('preemption-flag-not-shared', 'a rank told to stop stops alone and leaves the others hanging',
             'mambavision_mm/engine/hooks/preemption_hook.py', '        if get_world_size() == 1:\n',
             '        if True:\n',
             ('tests/test_mambavision_mm/test_engine/test_distributed.py::test_sigterm_to_one_rank_stops_both_after_the_same_iteration',),
             slow=True),
    Mutation('world-size-change-resumed', 'a job resumed on fewer GPUs silently trains something else',
             'mambavision_mm/engine/hooks/exact_resume_hook.py', 'saved is None or saved == get_world_size()',
             'saved is None or True', ('tests/test_mambavision_mm/test_engine/test_hooks.py',)),
    Mutation('torchrun-agents-not-recorded', 'workers restarted when a node joins train from the start',
             'mambavision_mm/engine/hooks/safe_checkpoint_hook.py',
             '        if training:\n            record_torchrun_agents',
             '        if False:\n            record_torchrun_agents',
             ('tests/test_mambavision_mm/test_engine/test_hooks.py',)),
    Mutation('reproduce-fraction-as-percent', "tools/reproduce.py compares mmdet's fraction with the zoo's percent",
             'mambavision_mm/apis/reproduction.py', "'box AP': ('coco/bbox_mAP', 100.0)",
             "'box AP': ('coco/bbox_mAP', 1.0)", ('tests/test_tools/test_reproduce.py',)),
    Mutation('reproduce-tolerance-ignored', 'every metric not exactly the published one is judged off',
             'mambavision_mm/apis/reproduction.py', '> tolerance + 1e-9', '> 1e-9',
             ('tests/test_tools/test_reproduce.py',)),
    Mutation('reproduce-coco-annotations-not-moved', '--data-root moves the images but the COCO evaluator reads '
             'the old annotation file', 'mambavision_mm/apis/reproduction.py',
             '                evaluator.ann_file = osp.join(data_root, osp.relpath(ann_file, old_root))',
             '                pass', ('tests/test_tools/test_reproduce.py',)),
    Mutation('reproduce-reruns-finished', 'a second run of the tables evaluates every model again',
             'tools/mambavision_tools/reproduce.py', '    return (not options.force and row is not None',
             '    return (False and row is not None', ('tests/test_tools/test_reproduce.py',), slow=True),
    Mutation('hidden-attention-decay-off-by-one', "the scan's hidden attention decays over [s, t] instead of (s, t]",
             'mambavision_mm/analysis/hidden_attention.py', 'running[:, :, t:t + 1] - running[:, :, :t + 1]',
             'running[:, :, t:t + 1] - running[:, :, :t + 1] + delta[:, :, :t + 1]',
             ('tests/test_mambavision_mm/test_analysis/test_hidden_attention.py',)),
    Mutation('hidden-attention-one-bias', "the mixer maps add dt_proj's bias once, not twice as the model does",
             'mambavision_mm/analysis/block_maps.py', 'delta_bias=mixer.dt_proj.bias.double()', 'delta_bias=None',
             ('tests/test_mambavision_mm/test_analysis/test_hidden_attention.py',)),
    Mutation('attention-map-unscaled', 'attention maps drawn without the 1/sqrt(head_dim) scale of SDPA',
             'mambavision_mm/analysis/block_maps.py', ' * attention.head_dim ** -0.5', '',
             ('tests/test_mambavision_mm/test_analysis/test_block_maps.py',)),
    Mutation('query-window-transposed', "the query's window counted column by column: maps of another window",
             'mambavision_mm/analysis/block_maps.py', 'index = (row // window) * per_row + col // window',
             'index = (col // window) * per_row + row // window',
             ('tests/test_mambavision_mm/test_analysis/test_block_maps.py',)),
    Mutation('erf-gradient-unrectified', "the ERF sums signed gradients instead of their ReLU",
             'mambavision_mm/analysis/erf.py', 'maps.append(F.relu(grad).sum(dim=(0, 1)).double())',
             'maps.append(grad.sum(dim=(0, 1)).abs().double())',
             ('tests/test_mambavision_mm/test_analysis/test_erf.py',)),
    Mutation('erf-area-uncentred', 'ERF area ratios grown from the corner instead of the centre',
             'mambavision_mm/analysis/erf.py', 'cy, cx = height // 2, width // 2', 'cy, cx = 0, 0',
             ('tests/test_mambavision_mm/test_analysis/test_erf.py',)),
    Mutation('visualization-writes-in-place', 'a failed visualisation leaves a half-written output folder',
             'mambavision_mm/analysis/figures.py', '        yield scratch\n',
             '        os.makedirs(out_dir, exist_ok=True)\n        yield out_dir\n',
             ('tests/test_mambavision_mm/test_analysis/test_figures.py',)),
    Mutation('layer-decay-downsampler-early', "a stage's downsampler decays with the stage's first block",
             'mambavision_mm/engine/optimizers.py', '    return sum(depths[:stage + 1])\n',
             '    return sum(depths[:stage]) + 1\n',
             ('tests/test_mambavision_mm/test_engine/test_optimizers.py',)),
    Mutation('layer-decay-heads-decayed', 'the heads learn decay_rate times slower than configured',
             'mambavision_mm/engine/optimizers.py', 'decay_rate ** (num_layers + 1 - layer_id(',
             'decay_rate ** (num_layers + 2 - layer_id(',
             ('tests/test_mambavision_mm/test_engine/test_optimizers.py',)),
    Mutation('planner-views-counted-twice', 'the memory planner counts a tensor saved by two operations twice',
             'mambavision_mm/analysis/memory_tracking.py', '        entry = self._live.get(key)\n',
             '        entry = None\n', ('tests/test_mambavision_mm/test_analysis/test_train_memory.py',)),
    Mutation('planner-mamba-chunk-halved', "the planner's mamba-ssm stand-in keeps a state per 1024 tokens",
             'mambavision_mm/analysis/memory_tracking.py', 'MAMBA_SSM_CHUNK = 2048', 'MAMBA_SSM_CHUNK = 1024',
             ('tests/test_mambavision_mm/test_analysis/test_train_memory.py',)),
    Mutation('planner-half-in-float32-kept', 'the fast half precision of the detection planner leaves float32 '
             'tensors', 'mambavision_mm/analysis/memory_tracking.py',
             'lambda t: t.to(half) if', 'lambda t: t if',
             ('tests/test_mambavision_mm/test_analysis/test_train_memory.py',)),
]


def copy_repository(scratch: str) -> None:
    def ignored(folder, names):
        return [n for n in names if n in IGNORED or (folder == ROOT and n in IGNORED_AT_TOP)]
    shutil.copytree(ROOT, scratch, ignore=ignored, dirs_exist_ok=True)


def run_tests(tests, scratch: str, slow: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'pytest', '-x', '-q', '-p', 'no:cacheprovider',
                           *(['-m', ''] if slow else []), *tests],
                          cwd=scratch, capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': os.pathsep.join([scratch, os.path.join(scratch, 'tools')]),
                               'PYTHONDONTWRITEBYTECODE': '1'})


def last_lines(result: subprocess.CompletedProcess, count: int = 3) -> str:
    return '\n'.join((result.stdout + result.stderr).strip().splitlines()[-count:])


def check_baseline(mutations, scratch: str) -> None:
    """Every listed test passes on the unmutated copy; otherwise a failure would prove nothing."""
    tests = sorted({t for m in mutations for t in m.tests})
    result = run_tests(tests, scratch, slow=any(m.slow for m in mutations))
    if result.returncode != 0:
        raise SystemExit(f'error: the tests fail without any mutation:\n{last_lines(result, 15)}')


def stale(mutations) -> List[str]:
    """One error line for each thing that no longer fits the source: a mutation's text not found exactly once in
    its file, a test file gone."""
    problems = []
    for m in mutations:
        path = os.path.join(ROOT, m.path)
        count = 0
        if os.path.exists(path):
            with open(path) as f:
                count = f.read().count(m.old)
        if count != 1:
            problems.append(f'mutation {m.name}: {m.path} holds its text {count} times, not once')
        problems += [f'mutation {m.name}: test {t} does not exist' for t in m.tests
                     if not os.path.exists(os.path.join(ROOT, t.split('::')[0]))]
    return [f'error: {problem}; update the list' for problem in problems]


def run_mutation(mutation: Mutation, scratch: str) -> Tuple[bool, float, str]:
    """(caught, seconds, the tests' last output lines)."""
    path = os.path.join(scratch, mutation.path)
    with open(path) as f:
        original = f.read()
    with open(path, 'w') as f:
        f.write(original.replace(mutation.old, mutation.new))
    start = time.perf_counter()
    try:
        result = run_tests(mutation.tests, scratch, mutation.slow)
    finally:
        with open(path, 'w') as f:
            f.write(original)
    if result.returncode not in (0, PYTEST_TESTS_FAILED):
        raise SystemExit(f'error: mutation {mutation.name}: the tests could not run (pytest exit status '
                         f'{result.returncode}):\n{last_lines(result, 15)}')
    return result.returncode == PYTEST_TESTS_FAILED, time.perf_counter() - start, last_lines(result)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--only', nargs='+', metavar='NAME', help='run these mutations only')
    parser.add_argument('--list', action='store_true', help='list the mutations and exit')
    parser.add_argument('--keep', metavar='SCRATCH', help='use (and keep) this scratch folder')
    args = parser.parse_args()
    if args.list:
        for m in MUTATIONS:
            print(f'{m.name:36} {m.path}: {m.why}')
        problems = stale(MUTATIONS)
        for problem in problems:
            print(problem)
        return 1 if problems else 0
    unknown = set(args.only or ()) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f'unknown mutations {sorted(unknown)}; see --list')
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    problems = stale(chosen)
    if problems:
        raise SystemExit('\n'.join(problems))
    scratch = args.keep or tempfile.mkdtemp(prefix='mutation_check_')
    survived = []
    try:
        copy_repository(scratch)
        print(f'{len(chosen)} mutations in a copy at {scratch}; first the tests without them', flush=True)
        check_baseline(chosen, scratch)
        print('\n| mutation | file | tests | result | seconds |\n|---|---|---|---|---|', flush=True)
        for m in chosen:
            caught, seconds, tail = run_mutation(m, scratch)
            print(f"| {m.name} | {m.path} | {' '.join(t.replace('tests/', '') for t in m.tests)} | "
                  f"{'caught' if caught else 'SURVIVED'} | {seconds:.0f} |", flush=True)
            if not caught:
                survived.append((m, tail))
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f'\n{len(chosen) - len(survived)} of {len(chosen)} mutations caught')
    for m, tail in survived:
        print(f'SURVIVED {m.name} ({m.why}); the tests ended with:\n{tail}')
    return 1 if survived else 0


if __name__ == '__main__':
    sys.exit(main())
