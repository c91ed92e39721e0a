"""Inference on image files with mmdet's DetInferencer or mmseg's MMSegInferencer (tools/infer.py).

For every readable input it writes ``vis/<name>.jpg`` (boxes, masks, class names and scores; or the class
colours blended over the image with a legend of the classes present) and ``preds/<name>.json``. Inputs that
cannot be read are named and skipped; the others still run.
"""
import glob
import json
import os
import os.path as osp
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.utils import ProgressBar

from mambavision_backbone.checkpoint import torch_load
from mambavision_backbone.hub import is_url

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


class InputError(ValueError):
    """An input path, config or checkpoint that inference cannot use; the message is one line."""


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


def check_checkpoint_fits(model: torch.nn.Module, checkpoint_path: str) -> dict:
    """Raise InputError naming the missing, unexpected and mis-shaped keys when the checkpoint is not the
    model's; returns the loaded checkpoint."""
    checkpoint = torch_load(checkpoint_path)
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    mismatched = sorted(k for k in set(own) & set(state)
                        if hasattr(state[k], 'shape') and tuple(state[k].shape) != tuple(own[k].shape))
    if missing or unexpected or mismatched:
        def some(keys):
            return f'{len(keys)} ({", ".join(keys[:3])}{", ..." if len(keys) > 3 else ""})'
        raise InputError(f'checkpoint {checkpoint_path} does not fit the config: missing keys {some(missing)}, '
                         f'unexpected keys {some(unexpected)}, shape mismatches {some(mismatched)}')
    return checkpoint


def _readable(path: str) -> bool:
    return cv2.imread(path, cv2.IMREAD_UNCHANGED) is not None


def _legend(image: np.ndarray, entries: List[Tuple[str, Tuple[int, int, int]]]) -> np.ndarray:
    """``image`` (BGR) with a strip below it: a colour swatch and the name of each entry."""
    row, pad = 22, 6
    strip = np.full((pad + row * len(entries), image.shape[1], 3), 255, np.uint8)
    for i, (name, colour) in enumerate(entries):
        top = pad + i * row
        cv2.rectangle(strip, (pad, top), (pad + 16, top + 16), colour, -1)
        cv2.putText(strip, name, (pad + 24, top + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([image, strip], axis=0)


def paint_segmentation(image_bgr: np.ndarray, labels: np.ndarray, classes: Sequence[str], palette,
                       opacity: float = 0.5) -> Tuple[np.ndarray, dict]:
    """The class colours blended over the image with the region boundaries in white, a legend of the classes
    present (by area), and the fraction of the image each of those classes covers."""
    if palette is None:  # fixed colours, the same on every run
        palette = np.random.RandomState(0).randint(0, 256, (len(classes), 3))
    colours = np.asarray(palette, np.uint8)[:, ::-1]  # RGB palette -> BGR
    painted = image_bgr.copy()
    present = [int(c) for c in np.unique(labels) if 0 <= c < len(classes)]
    for c in present:
        area = labels == c
        painted[area] = (image_bgr[area] * (1 - opacity) + colours[c] * opacity).astype(np.uint8)
    boundary = np.zeros(labels.shape, bool)
    boundary[:-1] |= labels[:-1] != labels[1:]
    boundary[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    painted[boundary] = 255
    fractions = {classes[c]: float((labels == c).mean()) for c in present}
    order = sorted(present, key=lambda c: -fractions[classes[c]])
    entries = [(f'{classes[c]} {100 * fractions[classes[c]]:.1f}%', tuple(int(v) for v in colours[c]))
               for c in order]
    return _legend(painted, entries), dict(sorted(fractions.items(), key=lambda kv: -kv[1]))


def config_dataset_meta(cfg: Config) -> dict:
    """The classes and palette of the config's test dataset: its class's METAINFO updated by ``metainfo``."""
    import importlib
    dataset_cfg = cfg.test_dataloader.dataset
    registry = importlib.import_module(f'{cfg.default_scope}.registry').DATASETS
    meta = dict(getattr(registry.get(dataset_cfg.type), 'METAINFO', {}))
    meta.update(dataset_cfg.get('metainfo') or {})
    return meta


def build_inferencer(config: str, checkpoint: str, device: str):
    """DetInferencer or MMSegInferencer, chosen by the config's default scope, with the weights checked."""
    if not osp.isfile(config):
        raise InputError(f'config {config} does not exist')
    if not is_url(checkpoint) and not osp.isfile(checkpoint):
        raise InputError(f'checkpoint {checkpoint} does not exist')
    cfg = Config.fromfile(config)
    scope = cfg.get('default_scope')
    if scope == 'mmdet':
        from mmdet.apis import DetInferencer
        inferencer = DetInferencer(model=cfg, weights=checkpoint, device=device, show_progress=False)
    elif scope == 'mmseg':
        from mmseg.apis import MMSegInferencer
        inferencer = MMSegInferencer(model=cfg, weights=checkpoint, device=device)
    else:
        raise InputError(f"config {config} has default_scope {scope!r}; expected 'mmdet' or 'mmseg'")
    loaded = check_checkpoint_fits(inferencer.model, checkpoint)
    if not (isinstance(loaded, dict) and 'dataset_meta' in loaded.get('meta', {})):
        # The inferencers fall back to the COCO or Cityscapes classes; the config's data set is the right one.
        meta = config_dataset_meta(cfg)
        inferencer.model.dataset_meta = {'classes': meta.get('classes'), 'palette': meta.get('palette')}
        inferencer.visualizer.dataset_meta = dict(inferencer.model.dataset_meta)
    return scope, inferencer


def _detection_outputs(inferencer, files, score_thr):
    result = inferencer(files, batch_size=len(files), return_vis=True, no_save_vis=True,
                        pred_score_thr=score_thr)
    classes = inferencer.model.dataset_meta['classes']
    for path, pred, vis in zip(files, result['predictions'], result['visualization']):
        keep = [i for i, s in enumerate(pred['scores']) if s >= score_thr]
        record = {'image': path, 'score_thr': score_thr,
                  'instances': [{'class': classes[pred['labels'][i]], 'label': pred['labels'][i],
                                 'score': pred['scores'][i], 'bbox_xyxy': pred['bboxes'][i],
                                 **({'mask_rle': pred['masks'][i]} if 'masks' in pred else {})} for i in keep]}
        yield cv2.cvtColor(vis, cv2.COLOR_RGB2BGR), record


def _segmentation_outputs(inferencer, files):
    samples = inferencer(files, batch_size=len(files), return_datasamples=True)
    samples = samples if isinstance(samples, list) else [samples]
    meta = inferencer.model.dataset_meta
    for path, sample in zip(files, samples):
        labels = sample.pred_sem_seg.data[0].cpu().numpy()
        painted, fractions = paint_segmentation(cv2.imread(path, cv2.IMREAD_COLOR), labels, meta['classes'],
                                                meta.get('palette'))
        yield painted, {'image': path, 'height': int(labels.shape[0]), 'width': int(labels.shape[1]),
                        'class_fractions': fractions}


def report(written: Sequence[str], skipped: Sequence[str], out_dir: str) -> int:
    """Print what an inference tool wrote and skipped; returns its exit status (1 when inputs were skipped)."""
    print(f'\nwrote {len(written)} painted images to {out_dir}/vis and their predictions to {out_dir}/preds'
          + (f'; skipped {len(skipped)} unreadable inputs' if skipped else ''))
    return 1 if skipped else 0


def run_inference(config: str, checkpoint: str, inputs: Sequence[str], out_dir: str, device: str = 'cpu',
                  score_thr: float = 0.3, batch_size: int = 1) -> Tuple[List[str], List[str]]:
    """Paint and save the predictions of every readable input; returns (written images, skipped inputs)."""
    files = collect_inputs(inputs)
    scope, inferencer = build_inferencer(config, checkpoint, device)
    readable = []
    skipped = []
    for path in files:
        (readable if _readable(path) else skipped).append(path)
    for path in skipped:
        print(f'skipped {path}: not a readable image', flush=True)
    names = dict(zip(files, output_names(files)))
    os.makedirs(osp.join(out_dir, 'vis'), exist_ok=True)
    os.makedirs(osp.join(out_dir, 'preds'), exist_ok=True)
    written = []
    progress = ProgressBar(len(readable)) if readable else None
    for start in range(0, len(readable), batch_size):
        batch = readable[start:start + batch_size]
        outputs = (_detection_outputs(inferencer, batch, score_thr) if scope == 'mmdet'
                   else _segmentation_outputs(inferencer, batch))
        for path, (painted, record) in zip(batch, outputs):
            image_file = osp.join(out_dir, 'vis', names[path] + '.jpg')
            cv2.imwrite(image_file, painted)
            with open(osp.join(out_dir, 'preds', names[path] + '.json'), 'w') as f:
                json.dump(record, f)
            written.append(image_file)
            progress.update()
    return written, skipped
