"""The run of ``tools/reproduce.py``: every selected model of a zoo fetched, evaluated as ``tools/test.py``
evaluates it and judged against its published figures, one row at a time.

All models are evaluated in this one process, one after the other. Under torchrun the process group is set up
once and every rank evaluates the same models in the same order (rank 0's plan, broadcast); a child process per
model would need a rendezvous of its own per model. mmengine's registries are module-level and are reused as they
are, and each runner is dropped before the next model, so memory does not grow with the zoo.

``reproduction.json`` is rewritten atomically after each model: a run killed at any moment loses at most the
model in progress, and the same command again keeps every finished model (keyed by its config file's content,
its weights URL and the ``--cfg-options``; nothing re-downloaded, its values re-judged by ``--tolerance``).
"""
import datetime
import gc
import hashlib
import json
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

import torch
import torch.distributed as dist
from mmengine.dist import broadcast_object_list, get_dist_info, init_dist, is_main_process

from mambavision_backbone.errors import CheckpointReadError
from mambavision_backbone.hub import download_checkpoint, is_url, require_checkpoint
from mambavision_mm.apis.inputs import InputError
from mambavision_mm.apis.model_index import ZooModel, read_model_index
from mambavision_mm.apis.reproduction import DATASETS, evaluate, evaluation_config, judge, zoo_metrics
from mambavision_mm.engine.checkpoint_files import write_text_atomically
from mambavision_mm.engine.distributed import DEFAULT_COLLECTIVE_TIMEOUT

FINISHED = ('reproduced', 'off')
ONE_LINE_ERRORS = (InputError, CheckpointReadError, FileNotFoundError)  # DownloadError is a CheckpointReadError


@dataclass
class Options:
    """What ``tools/reproduce.py`` was asked."""

    index: str = 'model-index.yml'
    models: List[str] = field(default_factory=list)
    work_dir: str = 'work_dirs/reproduce'
    data_roots: Dict[str, str] = field(default_factory=dict)
    cfg_options: Optional[dict] = None
    tolerance: float = 0.3
    force: bool = False
    launcher: str = 'none'


def dataset_key(model: ZooModel) -> str:
    """The name of the model's dataset on the command line (``--data-root coco=DIR``)."""
    return DATASETS.get(model.dataset, str(model.dataset).lower())


def select(zoo: List[ZooModel], names: List[str]) -> List[ZooModel]:
    """The models named (all when none is), in the zoo's order; InputError for a name the zoo lacks."""
    unknown = sorted(set(names) - {model.name for model in zoo})
    if unknown:
        raise InputError(f'--models: {", ".join(unknown)} not in the zoo; it has {", ".join(m.name for m in zoo)}')
    return [model for model in zoo if not names or model.name in names]


def model_key(model: ZooModel, cfg_options: Optional[dict]) -> dict:
    """What a finished row was measured from: the config file's content, the weights URL and the options (as
    they read back from the JSON file)."""
    config_sha256 = file_sha256(model.config) if osp.isfile(model.config) else None  # evaluating it says why
    key = dict(config_sha256=config_sha256, weights=model.weights, cfg_options=cfg_options or {})
    return json.loads(json.dumps(key, sort_keys=True, default=str))


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 24), b''):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(weights: str) -> str:
    """The local file of ``weights`` (a URL through the cache, or a path): rank 0 downloads first and the others
    follow, or all fail with rank 0's message."""
    if not is_url(weights):
        require_checkpoint(weights)
        return weights
    rank, world_size = get_dist_info()
    outcome = [None]
    if rank == 0:
        try:
            download_checkpoint(weights)
        except Exception as error:  # every rank leaves this model together
            outcome = [one_line(error)]
    if world_size > 1:
        broadcast_object_list(outcome)
    if outcome[0] is not None:
        raise InputError(outcome[0])
    return download_checkpoint(weights)


def one_line(error: BaseException) -> str:
    """An exception as the one line of a failed row: the message of the errors that are one line by design, the
    type and first line of any other."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ''
    return text if isinstance(error, ONE_LINE_ERRORS) else f'{type(error).__name__}: {text}'


def measure(model: ZooModel, options: Options) -> dict:
    """Fetch, evaluate and judge ``model``; its row (a failure is the row's verdict, never an exception)."""
    started = time.monotonic()
    row = dict(name=model.name, config=osp.relpath(model.config), weights=model.weights, sha256=None,
               metrics={metric: dict(published=value, measured=None) for metric, value in model.metrics.items()},
               verdict='failed', reason=None, seconds=None, finished=None,
               key=model_key(model, options.cfg_options))
    try:
        key = dataset_key(model)  # the config and its data are checked before anything is downloaded
        cfg = evaluation_config(model.config, model.weights, osp.join(options.work_dir, model.name),
                                options.data_roots.get(key), f'--data-root {key}=DIR', options.cfg_options,
                                options.launcher)
        cfg.load_from = fetch(model.weights)
        row['sha256'] = file_sha256(cfg.load_from)
        cfg.experiment_name = f'{model.name}_{datetime.datetime.now():%Y%m%d_%H%M%S}'
        measured = zoo_metrics(evaluate(cfg), model.metrics)
        for metric, value in measured.items():
            row['metrics'][metric]['measured'] = value
        row['verdict'], row['reason'] = judge(row['metrics'], options.tolerance)
        row['finished'] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    except Exception as error:  # one model's failure never stops the others
        row['reason'] = one_line(error)
    finally:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    row['seconds'] = round(time.monotonic() - started, 1)
    return row


def rejudged(row: dict, model: ZooModel, tolerance: float) -> dict:
    """A finished row against the zoo's published values as they are now and ``tolerance``."""
    row = dict(row, metrics={metric: dict(published=value, measured=row['metrics'][metric]['measured'])
                             for metric, value in model.metrics.items()})
    row['verdict'], row['reason'] = judge(row['metrics'], tolerance)
    return row


def reusable(row: Optional[dict], model: ZooModel, options: Options) -> bool:
    """Whether a stored row stands for ``model`` as it would be measured now."""
    return (not options.force and row is not None and row.get('verdict') in FINISHED
            and row.get('key') == model_key(model, options.cfg_options) and set(row['metrics']) == set(model.metrics))


def markdown(rows: List[dict], skipped: List[dict], options: Options) -> str:
    """The rows as a table a person reads: published, measured and their difference side by side."""
    lines = ['# Reproduction of the published tables', '',
             f'Model index: `{options.index}`; tolerance {options.tolerance} points; '
             f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC.', '',
             '| model | metric | published | measured | difference | verdict |', '|---|---|---|---|---|---|']
    for row in rows:
        for i, (metric, values) in enumerate(row['metrics'].items()):
            measured = values['measured']
            difference = '-' if measured is None else f'{measured - values["published"]:+.2f}'
            verdict = row['verdict'] + (f': {row["reason"]}' if row['reason'] else '') if i == 0 else ''
            lines.append(f'| {row["name"] if i == 0 else ""} | {metric} | {values["published"]:g} | '
                         f'{"-" if measured is None else f"{measured:.2f}"} | {difference} | {verdict} |')
    if skipped:
        lines += ['', 'Not evaluated, no published figures: ' + ', '.join(entry['name'] for entry in skipped) + '.']
    return '\n'.join(lines) + '\n'


def init_distributed(launcher: str) -> None:
    """The process group of a launched run, set up once for every model (gloo on CPU: mmengine's own start-up
    selects a CUDA device)."""
    if launcher == 'none' or dist.is_initialized():
        return
    timeout = datetime.timedelta(seconds=DEFAULT_COLLECTIVE_TIMEOUT)
    if torch.cuda.is_available():
        init_dist(launcher, timeout=timeout)
    elif launcher == 'pytorch':
        dist.init_process_group(backend='gloo', timeout=timeout)
    else:
        raise InputError(f'--launcher {launcher} without CUDA: use --launcher pytorch (torchrun) on CPUs')


def run(options: Options, echo: Callable[[str], None] = print) -> int:
    """Reproduce the selected models; returns the exit status (0 only when every evaluated model reproduced)."""
    zoo = read_model_index(options.index)
    selected = select(zoo, options.models)
    known = sorted({dataset_key(model) for model in zoo if model.published})
    unknown = sorted(set(options.data_roots) - set(known))
    if unknown:
        raise InputError(f'--data-root {", ".join(unknown)}: no model of the zoo reads it (its datasets: '
                         f'{", ".join(known)})')
    init_distributed(options.launcher)
    json_path, md_path = osp.join(options.work_dir, 'reproduction.json'), osp.join(options.work_dir, 'reproduction.md')
    stored = [None]
    if is_main_process() and osp.isfile(json_path):
        with open(json_path) as f:
            stored = [{row['name']: row for row in json.load(f).get('models', [])}]
    if get_dist_info()[1] > 1:
        broadcast_object_list(stored)  # every rank follows rank 0's plan
    by_name = {model.name: model for model in zoo}
    rows = {name: rejudged(row, by_name[name], options.tolerance) if reusable(row, by_name[name], options) else row
            for name, row in (stored[0] or {}).items() if name in by_name}  # every table row judged alike
    skipped = [dict(name=model.name, reason='no published figures') for model in selected if not model.published]
    for entry in skipped:
        echo(f'{entry["name"]}: no published figures (weights and results): skipped')
    todo = [model for model in selected if model.published]
    if not todo:
        echo('no selected model has published figures: nothing to reproduce')
        return 1
    os.makedirs(options.work_dir, exist_ok=True)
    for number, model in enumerate(todo, 1):
        head = f'[{number}/{len(todo)}] {model.name}'
        if reusable(rows.get(model.name), model, options):
            echo(f'{head}: kept ({rows[model.name]["verdict"]}, measured {rows[model.name]["finished"]})')
        else:
            echo(f'{head}: evaluating {model.weights} on {model.dataset} ({osp.relpath(model.config)})')
            row = rows[model.name] = measure(model, options)
            echo(f'{head}: {row["verdict"]} in {row["seconds"]:.0f} s' + (f' ({row["reason"]})' * bool(row['reason'])))
        if is_main_process():
            ordered = [rows[name] for name in by_name if name in rows]
            write_text_atomically(json_path, json.dumps(dict(models=ordered, skipped=skipped), indent=2) + '\n')
            write_text_atomically(md_path, markdown(ordered, skipped, options))
    if is_main_process():
        ordered = [rows[name] for name in by_name if name in rows]
        echo('\n' + markdown(ordered, skipped, options))
        echo(f'written: {json_path}, {md_path}')
    return 0 if all(rows[model.name]['verdict'] == 'reproduced' for model in todo) else 1
