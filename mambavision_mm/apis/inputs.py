"""Image inputs and what inference writes for each (tools/infer.py, tools/deployment/onnx_infer.py).

Inputs are files, folders (searched recursively by suffix) and globs. For every readable input the tools write
``vis/<name>.jpg`` (the painted prediction) and ``preds/<name>.json``; inputs that cannot be read are named and
skipped, and the others still run.
"""
import glob
import json
import os
import os.path as osp
from typing import Callable, Iterable, List, Sequence, Tuple

import cv2
import numpy as np
from mmengine.utils import ProgressBar

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


class InputError(ValueError):
    """An input path, config, checkpoint or file that a tool cannot use; the message is one line."""


def collect_inputs(patterns: Sequence[str]) -> List[str]:
    """Image files named directly, found in folders (recursively, by suffix) or matched by globs, in order."""
    files = []
    for pattern in patterns:
        if osp.isdir(pattern):
            found = sorted(osp.join(root, f) for root, _, names in os.walk(pattern) for f in names
                           if f.lower().endswith(IMAGE_SUFFIXES))
        elif osp.isfile(pattern):
            found = [pattern]
        else:
            found = sorted(f for f in glob.glob(pattern, recursive=True) if osp.isfile(f))
            if not found:
                raise InputError(f'input {pattern} does not exist (not a file, a folder or a matching glob)')
        files += [f for f in found if f not in files]
    if not files:
        raise InputError(f'no image files in {", ".join(patterns)}')
    return files


def output_names(files: Sequence[str]) -> List[str]:
    """A distinct output name per input: the file's name, with the folders that tell it apart from the
    other inputs of the same name (``a/x.jpg``, ``b/x.jpg`` -> ``a__x``, ``b__x``)."""
    stems = [osp.splitext(osp.basename(f))[0] for f in files]
    names = []
    for path, stem in zip(files, stems):
        namesakes = [osp.abspath(f) for f, s in zip(files, stems) if s == stem]
        if len(namesakes) == 1:
            names.append(stem)
        else:
            relative = osp.relpath(osp.abspath(path), osp.commonpath(namesakes))
            names.append(osp.splitext(relative)[0].replace(os.sep, '__'))
    return names


Prediction = Tuple[np.ndarray, dict]  # the painted image (BGR) and its JSON record


def write_predictions(files: Sequence[str], predict: Callable[[List[str]], Iterable[Prediction]], out_dir: str,
                      batch_size: int = 1) -> Tuple[List[str], List[str]]:
    """Write ``vis/<name>.jpg`` and ``preds/<name>.json`` into ``out_dir`` for every readable file, from
    ``predict(paths)`` run on batches of ``batch_size``; returns (written images, skipped inputs)."""
    readable, skipped = [], []
    for path in files:
        (readable if cv2.imread(path, cv2.IMREAD_UNCHANGED) is not None else skipped).append(path)
    for path in skipped:
        print(f'skipped {path}: not a readable image', flush=True)
    names = dict(zip(files, output_names(files)))
    os.makedirs(osp.join(out_dir, 'vis'), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'preds'), exist_ok=True)
    written = []
    progress = ProgressBar(len(readable)) if readable else None
    for start in range(0, len(readable), batch_size):
        batch = readable[start:start + batch_size]
        for path, (painted, record) in zip(batch, predict(batch)):
            image_file = osp.join(out_dir, 'vis', names[path] + '.jpg')
            cv2.imwrite(image_file, painted)
            with open(osp.join(out_dir, 'preds', names[path] + '.json'), 'w') as f:
                json.dump(record, f)
            written.append(image_file)
            progress.update()
    return written, skipped


def report(written: Sequence[str], skipped: Sequence[str], out_dir: str) -> int:
    """Print what an inference tool wrote and skipped; returns its exit status (1 when inputs were skipped)."""
    print(f'\nwrote {len(written)} painted images to {out_dir}/vis and their predictions to {out_dir}/preds'
          + (f'; skipped {len(skipped)} unreadable inputs' if skipped else ''))
    return 1 if skipped else 0
