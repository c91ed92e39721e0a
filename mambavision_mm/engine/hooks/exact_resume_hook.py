"""Per-iteration seeds and a replay without loading, so that a resumed run repeats the interrupted one."""
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
from torch.utils.data import BatchSampler

from ...datasets.samplers import SeededSampler
from ...datasets.seeding import derive_seed, seed_everything
from ..mmengine_internals import requested_checkpoint, resume_requested


class WorldSizeError(RuntimeError):
    """A checkpoint resumed by another number of processes than trained it."""


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
    - Records the number of processes in every checkpoint, and refuses to resume one with another number
      (an elastic job that lost a node, a job requeued on fewer GPUs): the samples of the interrupted epoch, the
      batch size and the learning rate would change silently.
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

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['world_size'] = get_world_size()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get('meta', {}).get('world_size')
        if not resume_requested(runner) or saved is None or saved == get_world_size():
            return
        raise WorldSizeError(
            f'cannot resume {requested_checkpoint(runner)}: it was trained by {saved} processes and this run has '
            f'{get_world_size()}; the samples of its epoch, the total batch size and the learning rate would '
            f'change. Start it again with {saved} processes (NNODES x NPROC_PER_NODE), or begin a new run from its '
            f'weights on purpose: --cfg-options load_from={requested_checkpoint(runner)} in a new work dir')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        seed_everything(derive_seed(runner.seed, runner.iter))
