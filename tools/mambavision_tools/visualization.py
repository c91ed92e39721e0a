"""What tools/analysis_tools/visualize_{erf,attention,features}.py write, given their parsed options.

Every input is checked before the model runs (images readable, the query point inside the image, a MambaVision
backbone for the attention maps); the files are written into a scratch folder and moved into the output folder
only when all of them are done.
"""
import json
import os
import os.path as osp
import time
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from mambavision_backbone import MambaVision
from mambavision_mm.analysis.block_maps import query_maps
from mambavision_mm.analysis.erf import area_ratios, erf_contributions, scaled
from mambavision_mm.analysis.feature_pca import principal_colours
from mambavision_mm.analysis.figures import (
    erf_grid_figure,
    erf_stage_figure,
    features_figure,
    query_map_figure,
    staged_output,
)
from mambavision_mm.analysis.visual_inputs import load_subject, prepare, read_image
from mambavision_mm.apis.inputs import InputError, collect_inputs


def _write_json(folder: str, name: str, content: dict) -> None:
    with open(osp.join(folder, name), 'w') as f:
        json.dump(content, f, indent=2)
        f.write('\n')


def _erf_of(source: str, checkpoint: Optional[str], files: Sequence[str], size: Optional[Tuple[int, int]],
            cfg_options: Optional[dict]):
    subject = load_subject(source, checkpoint, cfg_options)
    size = tuple(size) if size else prepare(subject, files[0]).size
    print(f'ERF of {subject.label} on {len(files)} image(s) at {size[0]}x{size[1]}', flush=True)

    def images():
        for i, path in enumerate(files, 1):
            start = time.perf_counter()
            yield prepare(subject, path, size).tensor
            print(f'  [{i}/{len(files)}] {path} ({time.perf_counter() - start:.1f} s)', flush=True)

    contributions = erf_contributions(subject.backbone, images())
    return subject.label, np.stack([scaled(c) for c in contributions]), area_ratios(contributions)


def visualize_erf(source: str, checkpoint: Optional[str], images: Sequence[str], out_dir: str,
                  num_images: Optional[int] = None, size: Optional[Tuple[int, int]] = None,
                  compare: Sequence[str] = (), cfg_options: Optional[dict] = None) -> list:
    """ERF pictures and ``erf.json`` (and ``erf_compare.json`` for ``compare`` = [CONFIG2, CHECKPOINT2?]);
    ``cfg_options`` change the first model's config."""
    outputs = osp.join(osp.abspath(out_dir), '')
    files = [f for f in collect_inputs(images) if not osp.abspath(f).startswith(outputs)][:num_images]
    if not files:
        raise InputError(f'no images in {", ".join(images)} outside the output folder {out_dir}')
    for path in files:
        read_image(path)
    models = [(source, checkpoint, '', cfg_options)]
    if compare:
        models.append((compare[0], compare[1] if len(compare) > 1 else None, 'compare_', None))
    results = [(prefix,) + _erf_of(model_source, model_checkpoint, files, size, options)
               for model_source, model_checkpoint, prefix, options in models]
    written = []
    with staged_output(out_dir) as scratch:
        for prefix, label, maps, ratios in results:
            for k, scaled_map in enumerate(maps):
                name = f'{prefix}erf_stage{k + 1}.png'
                erf_stage_figure(scaled_map, ratios[f'stage{k + 1}'], f'{label}: stage {k + 1} ERF',
                                 osp.join(scratch, name))
                written.append(name)
            _write_json(scratch, f'{prefix}erf.json' if not prefix else 'erf_compare.json', ratios)
        erf_grid_figure([(label, maps, ratios) for _, label, maps, ratios in results],
                        osp.join(scratch, 'erf_grid.png'))
        written += ['erf_grid.png', 'erf.json'] + (['erf_compare.json'] if compare else [])
    return written


def _query_point(point: Optional[Sequence[float]], original_size: Tuple[int, int], path: str) -> Tuple[float, float]:
    height, width = original_size
    if point is None:
        return (height / 2, width / 2)
    y, x = point
    if not (0 <= y < height and 0 <= x < width):
        raise InputError(f'point (y={y:g}, x={x:g}) is outside the image {path} ({height}x{width}, HxW)')
    return (float(y), float(x))


def visualize_attention(source: str, checkpoint: Optional[str], image: str, out_dir: str,
                        point: Optional[Sequence[float]] = None, per_head: bool = False,
                        save_raw: bool = False, cfg_options: Optional[dict] = None,
                        size: Optional[Tuple[int, int]] = None) -> list:
    """One picture per block of stages 3 and 4 for the query at ``point`` (y, x in the original image's
    pixels; its centre by default), ``attention.json`` listing them, and with ``save_raw`` raw/<block>.npy."""
    query = _query_point(point, read_image(image).shape[:2], image)
    subject = load_subject(source, checkpoint, cfg_options)
    if not isinstance(subject.backbone, MambaVision):
        raise InputError(f'{source} has a {type(subject.backbone).__name__} backbone; the attention maps need '
                         'MambaVision')
    prepared = prepare(subject, image, size)
    at = (query[0] * prepared.scale[0], query[1] * prepared.scale[1])
    start = time.perf_counter()
    maps = query_maps(subject.backbone, prepared.tensor, at)
    print(f'{len(maps)} blocks of {subject.label} at ({query[0]:g}, {query[1]:g}) in {image} '
          f'({time.perf_counter() - start:.1f} s)', flush=True)
    blocks = []
    with staged_output(out_dir) as scratch:
        for i, qmap in enumerate(maps, 1):
            png = f'{qmap.block}.png'
            query_map_figure(prepared.display, qmap, at, f'{subject.label}, query (y={query[0]:g}, x={query[1]:g})',
                             osp.join(scratch, png), per_head=per_head)
            entry = dict(block=qmap.block, kind=qmap.kind, png=png)
            if save_raw:
                raw = osp.join('raw', f'{qmap.block}.npy')
                os.makedirs(osp.join(scratch, 'raw'), exist_ok=True)
                np.save(osp.join(scratch, raw), qmap.values)
                entry['raw'] = raw
            blocks.append(entry)
            print(f'  [{i}/{len(maps)}] {png}', flush=True)
        _write_json(scratch, 'attention.json', dict(
            image=image, query=dict(y=query[0], x=query[1]), blocks=blocks))
    return [b['png'] for b in blocks] + ['attention.json']


def visualize_features(source: str, checkpoint: Optional[str], image: str, out_dir: str,
                       cfg_options: Optional[dict] = None, size: Optional[Tuple[int, int]] = None) -> list:
    """``features.png`` (the image beside every stage's principal-component picture), one picture per stage,
    and ``features.json`` with the variance each stage's three components explain."""
    read_image(image)
    subject = load_subject(source, checkpoint, cfg_options)
    prepared = prepare(subject, image, size)
    with torch.no_grad():
        features = subject.backbone(prepared.tensor)
    colours = [principal_colours(f[0]) for f in features]
    written = []
    with staged_output(out_dir) as scratch:
        for k, (picture, shares) in enumerate(colours):
            name = f'features_stage{k + 1}.png'
            features_figure(prepared.display, [(k + 1, picture, shares)], f'{subject.label}: stage {k + 1}',
                            osp.join(scratch, name))
            written.append(name)
        features_figure(prepared.display, [(k + 1, picture, shares) for k, (picture, shares) in enumerate(colours)],
                        subject.label, osp.join(scratch, 'features.png'))
        _write_json(scratch, 'features.json', {f'stage{k + 1}': dict(
            size=list(picture.shape[:2]), explained_variance=[round(float(s), 6) for s in shares])
            for k, (picture, shares) in enumerate(colours)})
    return written + ['features.png', 'features.json']
