"""What a NaN or infinite training loss does to a run."""
import math
from typing import Iterable, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """What a NaN or infinite training loss does: ``action='stop'``, ``'skip'`` or ``'warn'``; by default the
    config's top-level ``non_finite_loss`` (``--cfg-options non_finite_loss=skip``), else ``'stop'``.

    A non-finite loss makes non-finite gradients, so the hook looks at the gradients just before the optimizer
    steps (a step pre-hook on the torch optimizer, which every mmengine optimizer wrapper calls, AMP's too) and,
    unless the action is ``'warn'``, drops them: parameters without a gradient are left as they are by every
    torch optimizer, so the step changes nothing. After the iteration it reads the loss terms the model
    reported. All ranks agree on both checks, so a distributed run cannot hang on one rank skipping.

    - stop: the step is not applied; one line names the iteration, the loss terms that were not finite and the
      last checkpoint, and the process exits with status 1;
    - skip: the step is not applied, a warning says so and training goes on;
    - warn: the step is applied, with a warning.
    """

    priority = 'HIGH'  # after_train_iter before the checkpoint hook: a stopped run saves nothing after the loss
    ACTIONS = ('stop', 'skip', 'warn')

    def __init__(self, action: Optional[str] = None):
        self.action = self._checked(action) if action is not None else None
        self.gradients_finite = True
        self.stepped = False
        self.steps_not_finite = 0

    def _checked(self, action: str) -> str:
        if action not in self.ACTIONS:
            raise ValueError(f'NonFiniteLossHook action must be one of {self.ACTIONS}; got {action!r}')
        return action

    def before_train(self, runner) -> None:
        if self.action is None:
            self.action = self._checked(runner.cfg.get('non_finite_loss', 'stop'))
        runner.optim_wrapper.optimizer.register_step_pre_hook(self.before_optimizer_step)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self.gradients_finite, self.stepped = True, False

    def before_optimizer_step(self, optimizer: torch.optim.Optimizer, args, kwargs) -> None:
        """Drop every gradient of a step whose gradients are not all finite (on any rank), unless warning."""
        parameters = [p for group in optimizer.param_groups for p in group['params'] if p.grad is not None]
        self.gradients_finite = self.all_finite(p.grad for p in parameters)
        if not self.gradients_finite and self.action != 'warn':
            for parameter in parameters:
                parameter.grad = None
        else:
            self.stepped = True

    @staticmethod
    def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
        """Whether every element of ``tensors`` is finite on every rank."""
        flags = [torch.isfinite(tensor.detach()).all() for tensor in tensors]
        finite = torch.stack(flags).all().to(torch.float32).cpu() if flags else torch.ones(())
        if get_world_size() > 1:
            all_reduce(finite, op='min')
        return bool(finite.item())

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        values = {name: torch.as_tensor(value).detach().float().cpu() for name, value in (outputs or {}).items()}
        if self.all_finite(values.values()) and self.gradients_finite:
            return
        terms = ', '.join(f'{name}={float(value)}' for name, value in values.items()
                          if not math.isfinite(float(value)))
        what = f'loss at {{}}: {terms}' if terms else 'gradients at {}'
        where = f'iteration {runner.iter + 1}'
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            where += f' (epoch {runner.epoch + 1}, batch {batch_idx + 1})'
        last = runner.message_hub.get_info('last_ckpt') or 'none saved yet'
        message = f'non-finite {what.format(where)}; last good checkpoint: {last}'
        if self.action == 'stop':
            runner.logger.error(f'{message}; training stopped')
            raise SystemExit(1)
        self.steps_not_finite += 1
        applied = 'applied' if self.stepped else 'skipped'
        runner.logger.warning(f'{message}; the step was {applied} ({self.steps_not_finite} so far)')
