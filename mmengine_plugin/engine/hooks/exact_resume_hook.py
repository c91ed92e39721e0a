"""Per-iteration seeds and a replay without loading, so that a resumed run repeats the interrupted one."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from torch.utils.data import BatchSampler

from ...datasets.samplers import SeededSampler
from ...datasets.seeding import derive_seed, seed_everything


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Make a resumed run repeat the interrupted one (docs/crash_safe_training.md), with :class:`SeededSampler`.

    - Seeds each training iteration's random draws (python, numpy, torch CPU and CUDA) from (seed, iteration):
      the model's draws (drop path, RoI sampling, dropout) then depend on numbers every checkpoint holds, not
      on whatever ran before (validation, data-loader start-up).
    - Warns when the training data are not seeded per sample, or from another seed than the checkpoint's.
    - On an iteration-based resume, lets mmengine's loop draw the already-trained batches again without
      loading them (an infinite stream of samples into plain batches).
    - On an epoch-based resume from a checkpoint saved in the middle of an epoch (a preempted run), starts that
      epoch after the batches already trained (mmengine's loop would train the whole epoch again).
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
        if isinstance(runner.train_loop, EpochBasedTrainLoop) and runner.iter > 0:
            done = runner.iter - runner.epoch * len(loader)  # batches of the current epoch already trained
            if 0 < done <= len(loader):
                sampler.start_epoch_at(runner.epoch, done, loader.batch_sampler)
                runner.logger.info(f'epoch {runner.epoch + 1} continues after its {done} batches already trained')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        seed_everything(derive_seed(runner.seed, runner.iter))
