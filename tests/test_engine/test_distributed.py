"""Distributed runs on this machine: two torchrun agents on 127.0.0.1 (one CPU process each, gloo, a fresh
port), as two nodes of a cluster would run them."""
import os
import signal
import socket
import subprocess
import sys

import pytest

from ..helpers import MICRO_DET, ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_agents(args, cwd, nnodes=2, timeout=240):
    """Start ``nnodes`` agents of tools/dist_train.sh ARGS, one process each, in their own process groups;
    returns their (exit status, output) once all have ended, killing them by their pids after ``timeout``."""
    port, processes = free_port(), []
    for node in range(nnodes):
        env = {**os.environ, 'PYTHON': sys.executable, 'NNODES': str(nnodes), 'NODE_RANK': str(node),
               'MASTER_ADDR': '127.0.0.1', 'PORT': str(port), 'OMP_NUM_THREADS': '1', 'PYTHONUNBUFFERED': '1'}
        log = open(cwd / f'agent_{node}_{port}.log', 'w+')
        processes.append((subprocess.Popen(['bash', os.path.join(ROOT, 'tools/dist_train.sh'), *args], cwd=cwd,
                                           env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True),
                          log))
    results = []
    for process, log in processes:
        try:
            status = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for other, _ in processes:
                if other.poll() is None:
                    os.killpg(other.pid, signal.SIGKILL)
            status = 'timed out'
        log.seek(0)
        results.append((status, log.read()))
        log.close()
    return results


@pytest.mark.slow  # about 40 s
def test_bad_data_found_by_rank_0_stops_every_node_at_once_with_its_message(micro_data, tmp_path):
    (tmp_path / 'data').symlink_to(micro_data / 'data')
    missing = 'data/toy_coco/train2017/000099.jpg'
    config = tmp_path / 'renamed_image.py'
    # the annotation file names an image that is not there: rank 0 finds it before the first iteration
    annotations = (micro_data / 'data/toy_coco/annotations/instances_train2017.json').read_text()
    (tmp_path / 'renamed.json').write_text(annotations.replace('000003.jpg', '000099.jpg'))
    config.write_text(f'_base_ = [{MICRO_DET!r}]\n'
                      f"train_dataloader = dict(dataset=dict(ann_file='{tmp_path}/renamed.json'))\n")
    results = start_agents([str(config), '1', '--work-dir', 'w'], tmp_path)
    message = f'DatasetError: 1 of 6 images of CocoDataset ({tmp_path}/renamed.json) do not exist, e.g. {missing}'
    for node, (status, output) in enumerate(results):
        assert status not in (0, 'timed out') and message in output, (node, status, output[-3000:])
