"""Inference on image files with mmdet's DetInferencer or mmseg's MMSegInferencer (tools/infer.py).

For every readable input it writes ``vis/<name>.jpg`` (boxes, masks, class names and scores; or the class
colours blended over the image with a legend of the classes present) and ``preds/<name>.json``
(:func:`~mambavision_mm.apis.inputs.write_predictions`).
"""
import warnings
from typing import List, Sequence, Tuple

import cv2

from ..engine.mmengine_internals import load_weights_into_inferencer
from .inputs import collect_inputs, write_predictions
from .models import check_checkpoint_path, dataset_meta, load_checkpoint, read_config, task_scope
from .painting import detection_record, paint_segmentation


def build_inferencer(config: str, checkpoint: str, device: str):
    """DetInferencer or MMSegInferencer, chosen by the config's default scope, with the checkpoint read once,
    checked key by key and loaded by the inferencer's own rules (classes and palette)."""
    cfg = read_config(config)
    check_checkpoint_path(checkpoint)
    scope = task_scope(cfg)
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='weights is None')  # the weights are loaded below
        if scope == 'mmdet':
            from mmdet.apis import DetInferencer
            inferencer = DetInferencer(model=cfg, weights=None, device=device, show_progress=False)
        else:
            from mmseg.apis import MMSegInferencer
            inferencer = MMSegInferencer(model=cfg, weights=None, device=device)
    loaded = load_checkpoint(inferencer.model, checkpoint, load=False)
    load_weights_into_inferencer(inferencer, loaded)
    if not (isinstance(loaded, dict) and 'dataset_meta' in loaded.get('meta', {})):
        # The inferencers fall back to the COCO or Cityscapes classes; the config's data set is the right one.
        meta = dataset_meta(cfg)
        inferencer.model.dataset_meta = {'classes': meta.get('classes'), 'palette': meta.get('palette')}
    inferencer.visualizer.dataset_meta = dict(inferencer.model.dataset_meta)
    return scope, inferencer


def _detection_outputs(inferencer, files, score_thr):
    result = inferencer(files, batch_size=len(files), return_vis=True, no_save_vis=True,
                        pred_score_thr=score_thr)
    classes = inferencer.model.dataset_meta['classes']
    for path, pred, vis in zip(files, result['predictions'], result['visualization']):
        record = detection_record(path, pred['bboxes'], pred['scores'], pred['labels'], classes, score_thr,
                                  pred.get('masks'))
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


def run_inference(config: str, checkpoint: str, inputs: Sequence[str], out_dir: str, device: str = 'cpu',
                  score_thr: float = 0.3, batch_size: int = 1) -> Tuple[List[str], List[str]]:
    """Paint and save the predictions of every readable input; returns (written images, skipped inputs)."""
    files = collect_inputs(inputs)
    scope, inferencer = build_inferencer(config, checkpoint, device)

    def predict(batch):
        return (_detection_outputs(inferencer, batch, score_thr) if scope == 'mmdet'
                else _segmentation_outputs(inferencer, batch))
    return write_predictions(files, predict, out_dir, batch_size)
