"""Checkpoints named by URL: downloaded once into torch's hub cache, checked, then reused with no network.

The cache is torch's folder (``$TORCH_HOME/hub/checkpoints/``), keyed by the whole URL: the file of
``https://host/a/b/model.pth`` is ``checkpoints/host/a/b/model.pth``, so that two URLs serving different files
under one name (every Hugging Face repository serves a ``model.safetensors``) are two entries, as Hugging Face's
own cache keys by repository. A download goes to a temporary file beside its final name and is renamed only
once it is complete and looks like a checkpoint, so a refused connection, an HTTP error, a truncated transfer or
an HTML page served instead of the file leaves nothing in the cache.
"""
import hashlib
import http.client
import json
import logging
import os
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from typing import Optional

import torch

from .errors import DownloadError

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60  # per network operation (connect, each read), not for the whole download


def is_url(path) -> bool:
    """Whether ``path`` names a checkpoint by http(s) URL."""
    return isinstance(path, str) and path.startswith(('http://', 'https://'))


def cache_path(url: str) -> str:
    """Where the file of ``url`` is kept: ``<torch.hub.get_dir()>/checkpoints/<host>[_<port>]/<the URL's path>``,
    with a folder ``query-<hash>`` before the file name when the URL has a query."""
    parsed = urllib.parse.urlparse(url)
    parts = [urllib.parse.unquote(part) for part in parsed.path.split('/')]
    if not parts[-1]:
        raise DownloadError(f'{url} names no file (its path ends with /)')
    if '..' in parts or any(os.sep in part for part in parts):
        raise DownloadError(f'{url}: its path leaves its folder (..), which the cache cannot hold')
    host = parsed.hostname or 'localhost'
    folders = [f'{host}_{parsed.port}' if parsed.port else host] + [p for p in parts[:-1] if p not in ('', '.')]
    if parsed.query:
        folders.append('query-' + hashlib.sha256(parsed.query.encode()).hexdigest()[:16])
    return os.path.join(torch.hub.get_dir(), 'checkpoints', *folders, parts[-1])


def written_without_crcs(archive: zipfile.ZipFile) -> bool:
    """Whether ``torch.save`` wrote the archive with its CRCs switched off
    (``torch.serialization.set_crc32_options(False)``): every non-empty member records a CRC of 0."""
    members = [info for info in archive.infolist() if info.file_size > 0]
    return bool(members) and all(info.CRC == 0 for info in members)


def archive_problem(path: str) -> Optional[str]:
    """Why the zip archive at ``path`` (what ``torch.save`` writes) is cut short or damaged, or None when every
    member reads back and passes its CRC check (an archive written without CRCs: when its directory reads).
    Nothing is unpickled."""
    try:
        with zipfile.ZipFile(path) as archive:
            if written_without_crcs(archive):
                return None
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f'is truncated or corrupt ({exc})'
    return f'is corrupt (bad CRC in {damaged})' if damaged else None


def download_problem(path: str) -> Optional[str]:
    """Why the downloaded file at ``path`` is not a checkpoint, or None when it looks like one: a zip archive
    (``torch.save``) whose every member is present and passes its CRC check, a safetensors file whose header
    accounts for every byte, or a pickle (torch's legacy format)."""
    with open(path, 'rb') as f:
        head = f.read(512)
    size = os.path.getsize(path)
    if not head:
        return 'the server sent an empty file'
    if head.lstrip()[:1] == b'<':
        return 'the server sent an HTML page, not a checkpoint (a login page, or a proxy\'s answer?)'
    if head[:4] == b'PK\x03\x04':
        problem = archive_problem(path)
        return f'the file {problem}' if problem else None
    if head[8:9] == b'{':  # safetensors: the header's length, then the header as JSON
        header_bytes = struct.unpack('<Q', head[:8])[0]
        try:
            with open(path, 'rb') as f:
                f.seek(8)
                header = json.loads(f.read(header_bytes))
            end = max((v['data_offsets'][1] for k, v in header.items() if k != '__metadata__'), default=0)
        except (ValueError, KeyError, TypeError, MemoryError) as exc:
            return f'the file is not a safetensors file ({type(exc).__name__})'
        return None if size == 8 + header_bytes + end else f'the file is cut short ({size} bytes)'
    if head[:1] == b'\x80':
        return None
    return f'the file is not a checkpoint (it starts with {head[:16]!r})'


def _fetch(url: str, partial: str, name: str) -> None:
    """Write the body of ``url`` to ``partial``, logging progress; raises DownloadError on a short body."""
    request = urllib.request.Request(url, headers={'User-Agent': 'mambavision-mm'})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response, open(partial, 'wb') as f:
        total = int(response.headers.get('Content-Length') or 0)
        logger.info('downloading %s (%s) to %s', url, f'{total / 2**20:.1f} MiB' if total else 'size unknown',
                    os.path.dirname(partial))
        done, next_report, started = 0, 0.1, time.monotonic()
        while True:
            chunk = response.read(CHUNK_BYTES)
            if not chunk:
                break
            f.write(chunk)
            done += len(chunk)
            if total and done / total >= next_report and done < total:
                logger.info('  %d%% (%.1f of %.1f MiB)', 100 * done // total, done / 2**20, total / 2**20)
                next_report += 0.1
    if total and done != total:
        raise DownloadError(f'{url}: the download ended early ({done} of {total} bytes)')
    logger.info('downloaded %s: %.1f MiB in %.1f s', name, done / 2**20, time.monotonic() - started)


def download_checkpoint(url: str) -> str:
    """The local file of ``url``: the cached copy when there is one (no request), else downloaded, checked and
    cached. Raises DownloadError with one line naming the URL, the cache folder and what to do instead."""
    path = cache_path(url)
    if os.path.isfile(path):
        return path
    root, folder = os.path.join(torch.hub.get_dir(), 'checkpoints'), os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    partial = f'{path}.{os.getpid()}.partial'
    advice = f'to work without the network, put the file at {path} by hand, or name a local copy instead of the URL'
    try:
        try:
            _fetch(url, partial, os.path.basename(path))
        except urllib.error.HTTPError as exc:
            raise DownloadError(f'could not download {url}: HTTP {exc.code} {exc.reason}; {advice}') from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, 'reason', None) or exc
            raise DownloadError(f'could not download {url} ({reason}); {advice}') from None
        except http.client.HTTPException as exc:  # e.g. IncompleteRead: the connection closed mid-body
            raise DownloadError(f'could not download {url} ({type(exc).__name__}); nothing was cached; '
                                f'{advice}') from None
        except DownloadError as exc:
            raise DownloadError(f'{exc}; nothing was cached; try again, or {advice}') from None
        problem = download_problem(partial)
        if problem:
            raise DownloadError(f'{url} is not a usable checkpoint: {problem}; nothing was cached; {advice}')
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
        if not os.path.isfile(path):
            _remove_empty_folders(folder, root)
    return path


def _remove_empty_folders(folder: str, root: str) -> None:
    """Remove ``folder`` and its parents below ``root`` while they are empty: a failed download leaves nothing."""
    while os.path.abspath(folder).startswith(os.path.abspath(root) + os.sep):
        try:
            os.rmdir(folder)
        except OSError:  # not empty: another download's, or a file put by hand
            return
        folder = os.path.dirname(folder)


def require_checkpoint(path: str, message: Optional[str] = None) -> None:
    """FileNotFoundError with ``message`` (default: 'checkpoint PATH does not exist') unless ``path`` is a URL or
    an existing file."""
    if not is_url(path) and not os.path.isfile(path):
        raise FileNotFoundError(message or f'checkpoint {path} does not exist')


def local_checkpoint(path: str) -> str:
    """``path`` itself, or for a URL its cached file (downloaded first when needed)."""
    return download_checkpoint(path) if is_url(path) else path
