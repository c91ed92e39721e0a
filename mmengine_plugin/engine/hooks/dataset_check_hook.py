"""Dataset and head checks before the first iteration."""
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner import BaseLoop

from ...datasets.dataset_checks import check_dataset, check_num_classes


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
