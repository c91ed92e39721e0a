"""Checkpoints by URL, against a real HTTP server on 127.0.0.1: one download into torch's hub cache, then none;
every bad download a one-line error with nothing left in the cache."""
import os
import shutil
import socket

import pytest
import torch

from mambavision_backbone import MambaVision
from mambavision_backbone.errors import DownloadError, UnsafeCheckpointError
from mambavision_backbone.hub import cache_path, download_checkpoint
from mambavision_mm.testing import CheckpointServer

from ..helpers.checkpoints import code_running_checkpoint, huggingface_safetensors, published_classification, randomize


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A server for tmp_path/files (a published-style ImageNet file of a T backbone in it) and an empty cache."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    (tmp_path / 'files').mkdir()
    source = randomize(MambaVision('tiny'), seed=11)
    published_classification(source, str(tmp_path / 'files/mambavision_tiny_1k.pth.tar'))
    with CheckpointServer(str(tmp_path / 'files')) as server:
        yield server, source, tmp_path / 'torch_home/hub/checkpoints'


def cached(folder):
    """The files under the cache folder, as paths relative to it."""
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, _, names in os.walk(folder) for name in names)


def test_downloaded_once_then_read_from_the_cache(served, package_logs):
    server, source, cache = served
    url = server.url('mambavision_tiny_1k.pth.tar')
    for _ in range(2):
        model = MambaVision('tiny', init_cfg=dict(type='Pretrained', checkpoint=url))
        model.init_weights()
        torch.testing.assert_close(model.levels[2].blocks[0].mixer.A_log, source.levels[2].blocks[0].mixer.A_log,
                                   rtol=0, atol=0)
    assert server.requests == ['/mambavision_tiny_1k.pth.tar']
    assert cached(cache) == [f'127.0.0.1_{server.port}/mambavision_tiny_1k.pth.tar']
    assert any(m.startswith(f'downloading {url}') and str(cache) in m for m in package_logs), package_logs
    assert sum(m.startswith('loaded 245/253 backbone tensors from ') for m in package_logs) == 2


def test_a_safetensors_copy_by_url(served, tmp_path):
    server, source, cache = served
    huggingface_safetensors(source, str(tmp_path / 'files/model.safetensors'))
    model = MambaVision('tiny', init_cfg=dict(type='Pretrained', checkpoint=server.url('model.safetensors')))
    model.init_weights()
    torch.testing.assert_close(model.levels[1].blocks[0].conv1.weight, source.levels[1].blocks[0].conv1.weight,
                               rtol=0, atol=0)
    assert cached(cache) == [f'127.0.0.1_{server.port}/model.safetensors']


@pytest.mark.parametrize('mode, name, expected', [
    ('', 'absent.pth', 'HTTP 404 Not Found'),
    ('truncated', 'mambavision_tiny_1k.pth.tar', 'the download ended early'),
    ('html', 'mambavision_tiny_1k.pth.tar', 'the server sent an HTML page, not a checkpoint'),
])
def test_bad_downloads_are_one_line_and_leave_nothing_cached(served, mode, name, expected):
    server, _, cache = served
    url = server.url(name, mode)
    with pytest.raises(DownloadError) as error:
        download_checkpoint(url)
    message = str(error.value)
    assert '\n' not in message and url in message and expected in message, message
    assert f'put the file at {cache / f"127.0.0.1_{server.port}" / mode / name} by hand' in message
    assert cached(cache) == []


def test_refused_connection_names_the_url_and_where_to_put_the_file(served, tmp_path):
    _, _, cache = served
    with socket.socket() as probe:  # a port that nothing listens on once the probe is closed
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    url = f'http://127.0.0.1:{port}/mambavision_tiny_1k.pth.tar'
    with pytest.raises(DownloadError, match=f'could not download {url} .*Connection refused.*put the file at '
                                            f'{cache}/127.0.0.1_{port}/mambavision_tiny_1k.pth.tar by hand'):
        download_checkpoint(url)
    assert os.listdir(cache) == []  # no folder left for the URL
    by_hand = cache / f'127.0.0.1_{port}/mambavision_tiny_1k.pth.tar'  # the offline workflow: the path named
    by_hand.parent.mkdir(parents=True)
    shutil.copy(tmp_path / 'files/mambavision_tiny_1k.pth.tar', by_hand)
    assert download_checkpoint(url) == str(by_hand)


def test_a_code_running_download_is_refused(served, tmp_path):
    server, _, cache = served
    code_running_checkpoint(tmp_path / 'files/shared.pth', tmp_path / 'marker')
    model = MambaVision('tiny', init_cfg=dict(type='Pretrained', checkpoint=server.url('shared.pth')))
    refused = f'{cache}/127.0.0.1_{server.port}/shared.pth was refused: loading it would call posix.system'
    with pytest.raises(UnsafeCheckpointError, match=refused):
        model.init_weights()
    assert not (tmp_path / 'marker').exists()


def test_two_urls_serving_one_file_name_are_two_cache_entries(served, tmp_path):
    # Hugging Face repositories all serve model files of one name; B-1K and B-21K share the architecture.
    server, first, cache = served
    second = randomize(MambaVision('tiny'), seed=12)
    for folder, source in (('b1k', first), ('b21k', second)):
        (tmp_path / 'files' / folder).mkdir()
        published_classification(source, str(tmp_path / f'files/{folder}/model.pth.tar'))
    for _ in range(2):
        for folder, source in (('b1k', first), ('b21k', second)):
            url = server.url(f'{folder}/model.pth.tar')
            model = MambaVision('tiny', init_cfg=dict(type='Pretrained', checkpoint=url))
            model.init_weights()
            torch.testing.assert_close(model.levels[2].blocks[0].mixer.A_log, source.levels[2].blocks[0].mixer.A_log,
                                       rtol=0, atol=0)
    assert not torch.equal(first.levels[2].blocks[0].mixer.A_log, second.levels[2].blocks[0].mixer.A_log)
    assert server.requests == ['/b1k/model.pth.tar', '/b21k/model.pth.tar']
    host = f'127.0.0.1_{server.port}'
    assert cached(cache) == [f'{host}/b1k/model.pth.tar', f'{host}/b21k/model.pth.tar']


def test_the_cache_is_keyed_by_host_path_and_query(monkeypatch, tmp_path):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    hub = tmp_path / 'hub' / 'checkpoints'
    url = 'https://huggingface.co/nvidia/MambaVision-B-1K/resolve/main/model.safetensors'
    assert cache_path(url) == str(hub / 'huggingface.co/nvidia/MambaVision-B-1K/resolve/main/model.safetensors')
    assert cache_path('http://user:secret@127.0.0.1:8000/a/./b//c.pth') == str(hub / '127.0.0.1_8000/a/b/c.pth')
    with_query = cache_path('https://host/c.pth?download=1')
    assert with_query.startswith(str(hub / 'host/query-')) and with_query.endswith('/c.pth')
    assert with_query != cache_path('https://host/c.pth?download=2') != cache_path('https://host/c.pth')
    for bad, problem in (('https://host/dir/', 'names no file'), ('https://host/a/../../c.pth', 'leaves its folder')):
        with pytest.raises(DownloadError, match=problem):
            cache_path(bad)
