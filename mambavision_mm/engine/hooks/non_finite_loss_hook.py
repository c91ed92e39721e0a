"""What a NaN or infinite training loss does to a run."""
import math
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """What a NaN or infinite training loss does: ``action='stop'``, ``'skip'`` or ``'warn'``; by default the
    config's top-level ``non_finite_loss`` (``--cfg-options non_finite_loss=skip``), else ``'stop'``.

    The loss is checked before the optimizer step (the hook wraps the optimizer wrapper's ``update_params``,
    through which every mmengine model's ``train_step`` applies its loss), with all ranks agreeing:

    - stop: the step is not applied; one line names the iteration, the loss terms that were not finite and the
      last checkpoint, and the process exits with status 1;
    - skip: the step is not applied (its gradients are dropped), a warning says so and training goes on;
    - warn: the step is applied, with a warning.
    """

    priority = 'HIGH'  # after_train_iter before the checkpoint hook: a stopped run saves nothing after the loss
    ACTIONS = ('stop', 'skip', 'warn')

    def __init__(self, action: Optional[str] = None):
        self.action = self._checked(action) if action is not None else None
        self.finite = True
        self.steps_not_finite = 0

    def _checked(self, action: str) -> str:
        if action not in self.ACTIONS:
            raise ValueError(f'NonFiniteLossHook action must be one of {self.ACTIONS}; got {action!r}')
        return action

    def before_train(self, runner) -> None:
        if self.action is None:
            self.action = self._checked(runner.cfg.get('non_finite_loss', 'stop'))
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
