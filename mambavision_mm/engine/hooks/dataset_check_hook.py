"""Dataset and head checks before the first iteration; the count of bad samples skipped after each epoch."""
from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ...datasets.dataset_checks import DatasetError, check_dataset, check_num_classes
from ...datasets.sample_fetcher import SampleFetcher
from ..mmengine_internals import built_loops, train_loop_built


@HOOKS.register_module()
class DatasetCheckHook(Hook):
    """Check every dataset the run uses before the first iteration (see ``dataset_checks``).

    Heads whose ``num_classes`` disagrees with the training classes, missing images or annotation maps and COCO
    annotations of categories outside the classes stop the run with an error naming the key or the file, instead
    of failing deep inside a data-loader worker or being dropped. Rank 0 checks; every rank stops with its
    message.

    With ``skip_bad_samples=True`` on the training sampler, the end of every epoch and of training logs how
    many bad training samples were skipped (by this process and its data-loader workers).
    """

    priority = 'VERY_HIGH'

    def __init__(self):
        self.skipped_before_epoch = 0

    def before_run(self, runner) -> None:
        # Rank 0 checks and tells every rank its verdict, so that all stop at once with its message instead of
        # waiting in their first collective for a rank that has stopped.
        verdict = [None]
        if is_main_process():
            try:
                self.check(runner)
            except DatasetError as error:
                verdict = [str(error)]
        broadcast_object_list(verdict)
        if verdict[0] is not None:
            raise DatasetError(verdict[0])

    @staticmethod
    def check(runner) -> None:
        """The checks of every dataset the run has built, and of the heads against the training classes."""
        train_loop = train_loop_built(runner)
        if train_loop is not None:
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            check_num_classes(model, train_loop.dataloader.dataset)
        for loop in built_loops(runner):
            check_dataset(loop.dataloader.dataset)

    @staticmethod
    def skipping_fetcher(runner):
        """The training set's SampleFetcher when it skips bad samples, else None."""
        fetcher = getattr(runner.train_dataloader.dataset, '__getitems__', None)
        return fetcher if isinstance(fetcher, SampleFetcher) and fetcher.skip_bad_samples else None

    def after_train_epoch(self, runner) -> None:
        fetcher = self.skipping_fetcher(runner)
        if fetcher is None:
            return
        total = fetcher.skipped.value
        runner.logger.info(f'epoch {runner.epoch + 1}: {total - self.skipped_before_epoch} bad training samples '
                           f'skipped ({total} in this run)')
        self.skipped_before_epoch = total

    def after_train(self, runner) -> None:
        fetcher = self.skipping_fetcher(runner)
        if fetcher is not None:
            runner.logger.info(f'{fetcher.skipped.value} bad training samples skipped in this run')
