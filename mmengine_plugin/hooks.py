"""Hooks that the published configs list in ``custom_hooks``; any mmengine runner applies them."""
import math

import numpy as np
import torch
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner import BaseLoop, EpochBasedTrainLoop, IterBasedTrainLoop
from torch.utils.data import BatchSampler

from .dataset_checks import check_dataset, check_num_classes
from .randomness import derive_seed, seed_everything
from .sampling import SeededSampler


def _plain(value):
    """numpy values inside containers as Python numbers and lists."""
    if isinstance(value, dict):
        return type(value)((k, _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value


@HOOKS.register_module()
class PlainCheckpointHook(Hook):
    """Write checkpoints as plain data, so that they load with ``torch.load(f, weights_only=True)``.

    mmengine pickles HistoryBuffer objects and numpy values into every checkpoint; this hook writes them
    as dicts, lists and numbers, and turns the history buffers back when a checkpoint is resumed.
    """

    priority = 'VERY_LOW'
    TAG = '__history_buffer__'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        hub = checkpoint.get('message_hub')
        if hub:
            hub['log_scalars'] = {
                name: {self.TAG: True, 'max_length': buffer.max_length,
                       'log': buffer._log_history.tolist(), 'count': buffer._count_history.tolist()}
                for name, buffer in hub.get('log_scalars', {}).items()}
        for key in ('meta', 'message_hub'):
            if key in checkpoint:
                checkpoint[key] = _plain(checkpoint[key])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        scalars = checkpoint.get('message_hub', {}).get('log_scalars', {})
        for name, value in scalars.items():
            if isinstance(value, dict) and value.get(self.TAG):
                scalars[name] = HistoryBuffer(value['log'], value['count'], value['max_length'])


@HOOKS.register_module()
class DatasetCheckHook(Hook):
    """Check every dataset the run uses before the first iteration (see ``dataset_checks``).

    Heads whose ``num_classes`` disagrees with the training classes, missing images or annotation maps and COCO
    annotations of categories outside the classes stop the run with an error naming the key or the file, instead
    of failing deep inside a data-loader worker or being dropped.
    """

    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        if not is_main_process():
            return
        if isinstance(runner._train_loop, BaseLoop):
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            check_num_classes(model, runner._train_loop.dataloader.dataset)
        for loop in (runner._train_loop, runner._val_loop, runner._test_loop):
            if isinstance(loop, BaseLoop):
                check_dataset(loop.dataloader.dataset)


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Make a resumed run repeat the interrupted one (docs/crash_safe_training.md), with :class:`SeededSampler`.

    - Seeds each training iteration's random draws (python, numpy, torch CPU and CUDA) from (seed, iteration):
      the model's draws (drop path, RoI sampling, dropout) then depend on numbers every checkpoint holds, not
      on whatever ran before (validation, data-loader start-up).
    - Warns when the training data are not seeded per sample, or from another seed than the checkpoint's.
    - On an iteration-based resume, lets mmengine's loop draw the already-trained batches again without
      loading them (an infinite stream of samples into plain batches).
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        loader = runner.train_loop.dataloader
        sampler = getattr(loader.batch_sampler, 'sampler', None) or loader.sampler
        if not isinstance(sampler, SeededSampler):
            runner.logger.warning('the training sampler is not a SeededSampler: augmentation is not seeded per '
                                  'sample, so a resumed run will not repeat the interrupted one')
            return
        if sampler.seed != runner.seed:
            runner.logger.warning(f"the training data are drawn from seed {sampler.seed} but the checkpoint's run "
                                  f'had seed {runner.seed}: set randomness.seed for a resumed run to repeat it')
        if (runner.iter > 0 and isinstance(runner.train_loop, IterBasedTrainLoop) and sampler.infinite
                and type(loader.batch_sampler) is BatchSampler):
            sampler.pass_over(runner.iter * loader.batch_size)
            runner.logger.info(f'the {runner.iter} batches already trained are drawn again without loading them')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        seed_everything(derive_seed(runner.seed, runner.iter))


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """What a NaN or infinite training loss does: ``action='stop'`` (default), ``'skip'`` or ``'warn'``.

    The loss is checked before the optimizer step (the hook wraps the optimizer wrapper's ``update_params``,
    through which every mmengine model's ``train_step`` applies its loss), with all ranks agreeing:

    - stop: the step is not applied; one line names the iteration, the loss terms that were not finite and the
      last checkpoint, and the process exits with status 1;
    - skip: the step is not applied (its gradients are dropped), a warning says so and training goes on;
    - warn: the step is applied, with a warning.
    """

    priority = 'HIGH'  # after_train_iter before the checkpoint hook: a stopped run saves nothing after the loss
    ACTIONS = ('stop', 'skip', 'warn')

    def __init__(self, action: str = 'stop'):
        if action not in self.ACTIONS:
            raise ValueError(f'NonFiniteLossHook action must be one of {self.ACTIONS}; got {action!r}')
        self.action = action
        self.finite = True
        self.steps_not_finite = 0

    def before_train(self, runner) -> None:
        wrapper = runner.optim_wrapper
        apply_loss = wrapper.update_params

        def update_params(loss, *args, **kwargs):
            self.finite = self.all_finite(loss)
            if self.finite or self.action == 'warn':
                return apply_loss(loss, *args, **kwargs)
            wrapper.zero_grad()

        wrapper.update_params = update_params

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self.finite = True  # until this iteration's update_params says otherwise

    @staticmethod
    def all_finite(loss: torch.Tensor) -> bool:
        finite = torch.isfinite(loss.detach()).all().to(torch.float32)
        if get_world_size() > 1:
            all_reduce(finite, op='min')
        return bool(finite.item())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.finite:
            return
        values = {name: float(value.detach() if torch.is_tensor(value) else value)
                  for name, value in (outputs or {}).items()}
        terms = ', '.join(f'{name}={value}' for name, value in values.items() if not math.isfinite(value)) or 'loss'
        where = f'iteration {runner.iter + 1}'
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            where += f' (epoch {runner.epoch + 1}, batch {batch_idx + 1})'
        last = runner.message_hub.get_info('last_ckpt') or 'none saved yet'
        message = f'non-finite loss at {where}: {terms}; last good checkpoint: {last}'
        if self.action == 'stop':
            runner.logger.error(f'{message}; training stopped')
            raise SystemExit(1)
        self.steps_not_finite += 1
        applied = 'applied' if self.action == 'warn' else 'skipped'
        runner.logger.warning(f'{message}; the step was {applied} ({self.steps_not_finite} so far)')
