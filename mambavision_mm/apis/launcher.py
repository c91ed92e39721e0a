"""What tools/train.py and tools/test.py do besides parsing arguments and exiting, as mmdet's own tools do it."""
import os.path as osp

from mmengine.config import Config, ConfigDict
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..datasets.sample_fetcher import DataWorkerLostError, SampleFetcher
from ..engine.distributed import set_collective_timeout, setup_cpu_distributed
from .models import inner_dataset, read_config


def load_config(path: str, cfg_options=None, launcher: str = 'none', work_dir=None) -> Config:
    """Read a config (:func:`~mambavision_mm.apis.models.read_config`) and apply the launcher, ``--cfg-options``
    and the work dir (default ``./work_dirs/<config name>``)."""
    cfg = read_config(path)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    return cfg


def build_runner(cfg: Config) -> Runner:
    """Build the runner the config asks for, with a collective timeout of a few minutes unless the config sets
    one, starting CPU distributed processes where needed."""
    set_collective_timeout(cfg)
    messages = setup_cpu_distributed(cfg)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    for message in messages:
        runner.logger.info(message)
    return runner


def train(runner: Runner) -> None:
    """``runner.train()``; a data-loader worker that dies (the out-of-memory killer's SIGKILL) stops it with
    :class:`DataWorkerLostError`, naming the worker, the samples it held and the checkpoint to resume from,
    instead of torch's bare "DataLoader worker (pid 123) is killed by signal"."""
    try:
        runner.train()
    except RuntimeError as error:
        fetcher = getattr(runner.train_dataloader.dataset, '__getitems__', None)
        lost = fetcher.lost_workers(error) if isinstance(fetcher, SampleFetcher) else None
        if lost is None:
            raise
        last = runner.message_hub.get_info('last_ckpt')
        resume = (f'run the same command with --resume to continue from {last}' if last
                  else 'no checkpoint was saved yet')
        raise DataWorkerLostError(f'{lost}; training stopped; {resume}') from error


def add_visualization(cfg: Config, show_dir=None, show: bool = False, wait_time: float = 2) -> None:
    """Turn on the visualization hook: every test image painted into ``show_dir`` and/or shown in a window."""
    hook = cfg.default_hooks.get('visualization')
    if hook is None:
        raise RuntimeError('--show and --show-dir need a visualization hook in default_hooks')
    hook.draw = True
    if show:
        hook.show = True
        hook.wait_time = wait_time
    if not show_dir:
        return
    if hook.type == 'SegVisualizationHook':  # mmseg paints through the visualizer's save_dir
        hook.interval = 1
        cfg.visualizer.save_dir = osp.abspath(show_dir)
    else:
        hook.test_out_dir = osp.abspath(show_dir)


def add_test_time_augmentation(cfg: Config) -> None:
    """Wrap the model in the config's ``tta_model`` and test with its ``tta_pipeline``, as mmdet's and mmseg's
    test.py --tta do. A detection config without them gets mmdet's default: the image and its horizontal flip,
    merged by NMS at IoU 0.5, 100 detections."""
    if cfg.get('default_scope') == 'mmdet':
        cfg.setdefault('tta_model', dict(type='DetTTAModel',
                                         tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)))
        if 'tta_pipeline' not in cfg:
            dataset = inner_dataset(cfg.test_dataloader.dataset)
            flips = [dict(type='RandomFlip', prob=1.0), dict(type='RandomFlip', prob=0.0)]
            pack = dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                                         'scale_factor', 'flip', 'flip_direction'))
            cfg.tta_pipeline = [*dataset.pipeline[:-1], dict(type='TestTimeAug', transforms=[flips, [pack]])]
    elif 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
        raise RuntimeError('--tta needs tta_model and tta_pipeline in the config (mmseg\'s dataset bases have them)')
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline


def finish_distributed() -> None:
    """Destroy the process group, if any, before the interpreter exits.

    Left to the exit, gloo's worker threads are still running when static destructors run, and a process can
    abort with "terminate called without an active exception" after its work is done. The barrier first: a
    process that tears its group down while a peer still sends to it (the last evaluation's gather) can abort
    the same way.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
