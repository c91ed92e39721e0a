"""The pictures of the visualisation tools (matplotlib, no display needed) and their all-or-nothing output folder."""
import contextlib
import os
import os.path as osp
import shutil
import tempfile
from typing import Dict, Iterator, List, Sequence, Tuple

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .block_maps import QueryMap

DPI = 100


@contextlib.contextmanager
def staged_output(out_dir: str) -> Iterator[str]:
    """A scratch folder beside ``out_dir`` whose files move into ``out_dir`` only when the block ends without an
    error: a run that fails leaves nothing half-written (files already in ``out_dir`` are replaced, not
    removed)."""
    out_dir = osp.abspath(out_dir)
    os.makedirs(osp.dirname(out_dir), exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=f'.{osp.basename(out_dir)}.partial-', dir=osp.dirname(out_dir))
    try:
        yield scratch
        for root, _, names in os.walk(scratch):
            target = osp.join(out_dir, osp.relpath(root, scratch))
            os.makedirs(target, exist_ok=True)
            for name in names:
                os.replace(osp.join(root, name), osp.join(target, name))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _save(fig: Figure, path: str) -> str:
    fig.savefig(path, dpi=DPI, bbox_inches='tight')
    return path


def _ratio_line(ratios: Dict[str, float]) -> str:
    return 'area ratio ' + ', '.join(f'{float(t):g}: {r:.3f}' for t, r in ratios.items())


def _erf_axes(fig, ax, scaled_map: np.ndarray, title: str, bar_label: str = '') -> None:
    shown = ax.imshow(scaled_map, cmap='RdYlGn', vmin=0.0, vmax=1.0)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, label=bar_label)


def erf_stage_figure(scaled_map: np.ndarray, ratios: Dict[str, float], title: str, path: str) -> str:
    """One stage's ERF heat map with a colour bar and its area ratios."""
    fig = Figure(figsize=(5.2, 4.6))
    _erf_axes(fig, fig.add_subplot(1, 1, 1), scaled_map, f'{title}\n{_ratio_line(ratios)}', 'log10(x + 1) / max')
    return _save(fig, path)


def erf_grid_figure(rows: Sequence[Tuple[str, np.ndarray, Dict[str, Dict[str, float]]]], path: str) -> str:
    """The ERF of every stage, one row per model (label, (stages, H, W) scaled maps, area ratios)."""
    stages = max(len(maps) for _, maps, _ in rows)
    fig = Figure(figsize=(3.6 * stages, 3.6 * len(rows)), layout='constrained')
    fig.suptitle('Effective receptive fields (log10(x + 1) / max; area: centred square holding half the total)',
                 fontsize=10)
    for subfig, (label, maps, ratios) in zip(np.atleast_1d(fig.subfigures(len(rows), 1)), rows):
        subfig.suptitle(label, fontsize=10)
        axes = subfig.subplots(1, stages, squeeze=False)[0]
        for k, (ax, scaled_map) in enumerate(zip(axes, maps)):
            _erf_axes(subfig, ax, scaled_map, f'stage {k + 1}: area {ratios[f"stage{k + 1}"]["0.5"]:.4f}')
    return _save(fig, path)


def _query_map_axes(fig: Figure, ax, display: np.ndarray, qmap: QueryMap, values: np.ndarray, point, label: str):
    s, window = qmap.stride, qmap.window
    top, left = qmap.origin[0] * s, qmap.origin[1] * s
    extent_w = max(display.shape[1], left + window * s)
    extent_h = max(display.shape[0], top + window * s)
    ax.set_facecolor('0.85')
    ax.imshow(display, extent=(0, display.shape[1], display.shape[0], 0))
    # The query's own token often dominates (attention to itself, D on the mixer's diagonal): the scale stops at
    # the largest other token, so that the rest stays readable; the query is marked.
    others = values.copy()
    others[qmap.query[0] - qmap.origin[0], qmap.query[1] - qmap.origin[1]] = 0
    vmax = others.max() if others.max() > 0 else max(values.max(), 1e-30)
    shown = ax.imshow(np.ma.masked_where(qmap.padded, values), cmap='inferno', alpha=0.65, vmin=0, vmax=vmax,
                      extent=(left, left + window * s, top + window * s, top), interpolation='nearest')
    padded_rows, padded_cols = qmap.map_size[0] * s, qmap.map_size[1] * s
    for x0, y0, x1, y1 in ((padded_cols, top, left + window * s, top + window * s),
                           (left, padded_rows, left + window * s, top + window * s)):
        if x1 > x0 and y1 > y0:
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, hatch='///', edgecolor='0.4', lw=0))
    ax.add_patch(Rectangle((left, top), window * s, window * s, fill=False, edgecolor='cyan', lw=1.2))
    ax.plot([point[1]], [point[0]], marker='*', color='cyan', markersize=12, markeredgecolor='black')
    ax.set_xlim(0, extent_w)
    ax.set_ylim(extent_h, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02, label=label)


def query_map_figure(display: np.ndarray, qmap: QueryMap, point: Tuple[float, float], title: str, path: str,
                     per_head: bool = False) -> str:
    """The query's map over the image (input pixels): the window outlined, its padded tokens hatched (grey
    beyond the image), the query starred; with ``per_head`` one panel per head after the mean."""
    if qmap.kind == 'attention':
        label = 'attention weight (mean over heads)'
        note = f'{100 * qmap.padded_share:.1f}% of the weight on padded tokens'
    else:
        label = '|alpha[t, s]|, mean over channels'
        note = 'scan order: row by row in the window; tokens after the query get 0'
    panels: List[Tuple[np.ndarray, str]] = [(qmap.values, label)]
    if per_head and qmap.per_head is not None:
        panels += [(head, f'head {h} weight') for h, head in enumerate(qmap.per_head)]
    columns = min(len(panels), 4)
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(5.5 * columns, 5.0 * rows))
    for i, (values, panel_label) in enumerate(panels):
        ax = fig.add_subplot(rows, columns, i + 1)
        _query_map_axes(fig, ax, display, qmap, values, point, panel_label)
        if i:
            ax.set_title(panel_label, fontsize=9)
    fig.suptitle(f'{title}\n{qmap.block} ({qmap.kind}, window {qmap.window}x{qmap.window} tokens of '
                 f'{qmap.stride}px; {note})', fontsize=10)
    return _save(fig, path)


def features_figure(display: np.ndarray, stages: Sequence[Tuple[int, np.ndarray, np.ndarray]], title: str,
                    path: str) -> str:
    """The image beside each stage's principal-component picture: ``stages`` holds (stage number, (h, w, 3)
    picture, variance shares of its components)."""
    fig = Figure(figsize=(3.4 * (len(stages) + 1), 3.6))
    ax = fig.add_subplot(1, len(stages) + 1, 1)
    ax.imshow(display)
    ax.set_title('input', fontsize=9)
    ax.axis('off')
    for k, (stage, picture, shares) in enumerate(stages):
        ax = fig.add_subplot(1, len(stages) + 1, k + 2)
        ax.imshow(picture, interpolation='nearest')
        ax.set_title(f'stage {stage} ({picture.shape[0]}x{picture.shape[1]})\nPC1-3 explain '
                     f'{100 * shares.sum():.0f}% (RGB)', fontsize=9)
        ax.axis('off')
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)
