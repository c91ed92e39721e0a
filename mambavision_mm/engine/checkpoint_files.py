"""Checkpoint files on disk: whether one reads back whole, and writes that a kill cannot leave half done.

A file is written to ``<name>.tmp`` in its folder, flushed to disk and renamed to ``<name>``; a rename within a
folder is atomic, so a file under a checkpoint's name is always complete. mmengine writes every checkpoint
through its file backend's ``put``: :class:`AtomicLocalBackend`, registered as ``'atomic_local'``, is mmengine's
local backend with that write.
"""
import errno
import glob
import os
import os.path as osp
import re
import shutil
import zipfile
from typing import List, Optional, Union

from mmengine.fileio import LocalBackend, register_backend

from mambavision_backbone.hub import archive_problem


def checkpoint_problem(path: str) -> Optional[str]:
    """Why the checkpoint at ``path`` cannot be resumed from, or None when it reads back whole.

    torch saves a zip archive: reading every member and checking its CRC finds a file cut short or damaged
    without unpickling anything.
    """
    if not osp.isfile(path):
        return 'does not exist'
    if osp.getsize(path) == 0:
        return 'is empty (0 bytes)'
    problem = archive_problem(path)
    if problem:
        return problem
    with zipfile.ZipFile(path) as archive:
        if not any(name.endswith('data.pkl') for name in archive.namelist()):
            return 'is not a torch checkpoint (no data.pkl)'
    return None


def checkpoints_newest_first(work_dir: str, filename_tmpl: str) -> List[str]:
    """The checkpoint named by ``last_checkpoint`` in ``work_dir``, then every file named like a checkpoint
    (``filename_tmpl``, e.g. ``'epoch_{}.pth'``) in its folder and the work dir, newest step first."""
    named = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named.append(f.read().strip())
    pattern = re.compile(re.escape(filename_tmpl).replace(r'\{\}', r'(\d+)') + '$')
    found = {}
    for folder in {work_dir, *(osp.dirname(path) for path in named)}:
        for path in glob.glob(osp.join(glob.escape(folder), filename_tmpl.format('*'))):
            match = pattern.search(osp.basename(path))
            if match:
                found[path] = int(match.group(1))
    ordered = sorted(found, key=found.get, reverse=True)
    return named + [path for path in ordered if path not in named]


def _flush_to_disk(path: str) -> None:
    with open(path, 'rb+') as f:
        os.fsync(f.fileno())


def _sync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (POSIX; elsewhere the rename alone is what we get)."""
    if not hasattr(os, 'O_DIRECTORY'):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_atomically(written: str, path: str) -> None:
    """Flush the finished file ``written`` to disk and rename it to ``path``."""
    _flush_to_disk(written)
    os.replace(written, path)
    _sync_folder(osp.dirname(osp.abspath(path)))


def remove_if_present(path: str) -> None:
    """Remove ``path``; nothing when it was never written or its folder is gone."""
    try:
        os.remove(path)
    except OSError:
        pass


def write_text_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    temporary = path + '.tmp'
    with open(temporary, 'w') as f:
        f.write(text)
    replace_atomically(temporary, path)


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose ``put`` writes ``<path>.tmp`` and renames it to ``path``; a write that
    fails (no space, no permission) removes the temporary file and raises. A process killed mid-write leaves
    ``<path>.tmp`` and never a half-written ``path``. ``backend_args=dict(backend='atomic_local')``."""

    def put(self, obj: bytes, filepath: Union[str, os.PathLike]) -> None:
        temporary = f'{filepath}.tmp'
        try:
            super().put(obj, temporary)
            replace_atomically(temporary, str(filepath))
        except OSError:
            remove_if_present(temporary)
            raise


def _megabytes(size: int) -> str:
    return f'{size / 2**20:.1f} MB'


def write_failure(path: str, error: OSError, previous: Optional[str]) -> str:
    """The one line that says why writing the checkpoint ``path`` failed and what is left on disk."""
    folder = osp.dirname(osp.abspath(path))
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        usage = shutil.disk_usage(folder)
        cause = f'{error.strerror} ({_megabytes(usage.free)} free of {_megabytes(usage.total)} in {folder}'
        if previous and osp.isfile(previous):
            cause += f'; the previous checkpoint takes {_megabytes(osp.getsize(previous))}'
        cause += ')'
    elif not osp.isdir(folder):
        cause = f'its folder {folder} is missing'
    elif error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        cause = f'{folder} is not writable ({error.strerror})'
    else:
        cause = error.strerror or str(error)
    if previous and checkpoint_problem(previous) is None:
        kept = f'the last checkpoint, {previous}, is intact'
    else:
        kept = 'no checkpoint of this run is on disk'
    return f'cannot write checkpoint {path}: {cause}; {kept}; training stopped'
