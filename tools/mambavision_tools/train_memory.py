"""What tools/analysis_tools/train_memory.py prints and writes: the plan's table, what fits which GPU, and the
cheapest change of the levers (AMP, gradient checkpointing, frozen stages, batch) that fits a budget."""
import json
import time
from dataclasses import replace
from typing import Iterator, List, Optional, Tuple

from mambavision_mm.analysis.train_memory import MemoryPlan, Setting, plan_memory, resolve_setting

GIB = 2 ** 30
GPU_SIZES = (16, 24, 40, 80)
# A card of N GB (N GiB on current GPUs) fits a plan whose peak is within 90% of it: the CUDA context and the
# caching allocator's rounding and fragmentation take the rest (max_memory_allocated counts neither).
USABLE = 0.9


def fits(total: int, size_gb: float) -> bool:
    return total <= USABLE * size_gb * GIB


def gib(nbytes: int) -> str:
    return f'{nbytes / GIB:.2f}'


def plan_table(plan: MemoryPlan) -> List[str]:
    """The plan as Markdown rows: every part, the activations per part of the model, the total and the GPUs."""
    rows = ['| part | GiB |', '|---|---:|', f'| parameters and buffers | {gib(plan.parameters)} |',
            f'| gradients | {gib(plan.gradients)} |', f'| optimizer state | {gib(plan.optimizer)} |',
            f'| activations | {gib(plan.activations)} |']
    rows += [f'| &nbsp;&nbsp;{part} | {gib(size)} |' for part, size in plan.activations_by_part.items()]
    rows += [f'| transient (forward/backward peak beyond the activations) | {gib(plan.transient)} |',
             f'| optimizer step temporaries | {gib(plan.optimizer_temporaries)} |',
             f'| DDP gradient buckets | {gib(plan.ddp_buckets)} |', f'| EMA copy | {gib(plan.ema)} |',
             f'| **total (peak)** | **{gib(plan.total)}** |']
    verdicts = ', '.join(f'{size} GB {"yes" if fits(plan.total, size) else "no"}' for size in GPU_SIZES)
    return rows + ['', f'fits (peak within {USABLE:.0%} of the card): {verdicts}']


def describe_setting(setting: dict) -> str:
    return (f"batch {setting['batch']} at {setting['shape'][0]}x{setting['shape'][1]}, AMP {setting['amp']}, "
            f"gradient checkpointing {'on' if setting['with_cp'] else 'off'}, frozen stages "
            f"{setting['frozen_stages']}, scan {setting['scan_backend']}, {setting['gpus']} GPU(s)"
            + (f", {setting['num_gt']} objects per image" if setting.get('num_gt') else ''))


def _candidates(base: Setting) -> Iterator[Setting]:
    """Settings from the cheapest change to the dearest: AMP (faster too), gradient checkpointing (about a third
    more step time), frozen stages (changes what is fine-tuned), then a smaller batch (with gradient
    accumulation to keep the recipe's batch)."""
    batch = base.batch
    while True:
        yield replace(base, batch=batch)
        yield replace(base, batch=batch, amp='fp16')
        yield replace(base, batch=batch, with_cp=True)
        yield replace(base, batch=batch, amp='fp16', with_cp=True)
        for frozen in (1, 2):
            if frozen > base.frozen_stages:
                yield replace(base, batch=batch, amp='fp16', with_cp=True, frozen_stages=frozen)
        if batch == 1:
            return
        batch = max(batch // 2, 1)


def config_changes(base: Setting, found: Setting) -> List[str]:
    """The --cfg-options that turn the config's setting into ``found``."""
    changes = []
    if found.amp != base.amp:
        changes.append("optim_wrapper.type=AmpOptimWrapper optim_wrapper.dtype=float16")
    if found.with_cp != base.with_cp:
        changes.append('model.backbone.with_cp=True')
    if found.frozen_stages != base.frozen_stages:
        changes.append(f'model.backbone.frozen_stages={found.frozen_stages}')
    if found.batch != base.batch:
        changes.append(f'train_dataloader.batch_size={found.batch} '
                       f'optim_wrapper.accumulative_counts={base.batch // found.batch}')
    return changes


def cheapest_fit(cfg, setting: Setting, budget_gb: float,
                 planned: Optional[MemoryPlan] = None) -> Tuple[Optional[MemoryPlan], Setting, int]:
    """The first plan of :func:`_candidates` within ``budget_gb`` (None when none is), its setting and the
    number of settings tried; ``planned`` is the plan of ``setting`` when already made."""
    base = resolve_setting(cfg, setting)
    seen = []
    for candidate in _candidates(base):
        if candidate in seen:  # AMP already on in the config
            continue
        seen.append(candidate)
        plan = planned if planned is not None and candidate == base else plan_memory(cfg, candidate)
        if fits(plan.total, budget_gb):
            return plan, candidate, len(seen)
    return None, base, len(seen)


def report(cfg, setting: Setting, fit: Optional[float] = None, out: Optional[str] = None) -> List[str]:
    """The lines the tool prints (and the JSON it writes to ``out``)."""
    start = time.perf_counter()
    plan = plan_memory(cfg, setting)
    lines = [f'training memory of one GPU: {cfg.filename}', describe_setting(plan.setting), ''] + plan_table(plan)
    lines.append(f'planned in {time.perf_counter() - start:.1f} s')
    result = dict(plan.as_dict())
    if fit is not None:
        base = resolve_setting(cfg, setting)
        found, chosen, tried = cheapest_fit(cfg, setting, fit, plan)
        lines.append('')
        if found is None:
            lines.append(f'--fit {fit:g}: nothing fits {fit:g} GB down to batch 1 with AMP, gradient checkpointing '
                         f'and 2 frozen stages ({tried} settings tried)')
        else:
            changes = config_changes(base, chosen)
            lines.append(f'--fit {fit:g}: {gib(found.total)} GiB with {describe_setting(found.setting)} '
                         f'({tried} settings tried)')
            lines.append('  --cfg-options ' + ' '.join(changes) if changes else '  as configured')
            result['fit'] = dict(budget_gb=fit, plan=found.as_dict(), cfg_options=changes)
    if out:
        with open(out, 'w') as f:
            json.dump(result, f, indent=2)
            f.write('\n')
    return lines
