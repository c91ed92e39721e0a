"""The arguments and exit codes that tools/train.py and tools/test.py share, as mmdet's own tools have them."""
import argparse
import errno
import os
import os.path as osp
import sys
from typing import Callable

from mmengine.config import DictAction

from mambavision_backbone.errors import CheckpointReadError
from mambavision_mm.apis.inputs import InputError
from mambavision_mm.datasets.sample_fetcher import DataWorkerLostError
from mambavision_mm.engine.errors import CheckpointError, CheckpointWriteError
from mambavision_mm.engine.hooks.exact_resume_hook import WorldSizeError

# OSErrors that say the disk or the folder, not the program, is at fault.
_ENVIRONMENT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT)


def parse_with_common_arguments(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Add the arguments mmdet's train.py and test.py share and parse the command line; LOCAL_RANK defaults to
    ``--local-rank`` (the older launchers pass it as an argument, torchrun as the variable)."""
    parser.add_argument('--work-dir', help='the directory to save logs and checkpoints')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs (xxx=yyy format)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def file_error_line(error: OSError) -> str:
    """One line for an OSError on a named file: the file, the cause, and the outermost folder on its path that
    has gone (a work dir removed while training)."""
    line = f'cannot use {error.filename}: {error.strerror}'
    gone = None
    folder = osp.dirname(osp.abspath(error.filename))
    while folder != osp.dirname(folder) and not osp.isdir(folder):
        gone, folder = folder, osp.dirname(folder)
    if error.errno == errno.ENOENT and gone is not None:
        line += f' (the folder {gone} no longer exists)'
    return line


def exit_on_known_errors(main: Callable[[], None]) -> None:
    """Run a tool's ``main``; the errors that have one line to say end it with that line and exit status 1
    instead of a traceback: a config that does not exist, a checkpoint that cannot be read (refused, not
    downloadable, not a checkpoint) or resumed from, a checkpoint that cannot be written, a data-loader worker
    that died, a resume by another number of processes, and a file the disk or its folder refuses (no space,
    read-only, no permission, its folder removed)."""
    try:
        main()
    except (InputError, CheckpointReadError, CheckpointError, CheckpointWriteError, DataWorkerLostError,
            WorldSizeError) as exc:
        sys.exit(f'error: {exc}')
    except OSError as exc:
        if exc.filename is None or exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        sys.exit(f'error: {file_error_line(exc)}')
