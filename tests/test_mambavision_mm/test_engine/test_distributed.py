"""Distributed runs on this machine: two torchrun agents on 127.0.0.1 (one CPU process each, gloo, a fresh
port, c10d rendezvous), as two nodes of a cluster would run them: bad data, a worker killed and restarted by
torchrun, preemption of one rank, a node lost for good."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from mambavision_mm.engine.hooks import PREEMPTED_EXIT_CODE

from ...helpers.checkpoints import checkpoint_weights, max_difference
from ...helpers.paths import MICRO_DET, MICRO_SEG, ROOT
from ...helpers.processes import child_pids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start_agents(args, cwd, nnodes=2, env=None, elastic=False):
    """Start ``nnodes`` agents of tools/dist_train.sh ARGS (one process each, own process groups; ``elastic``:
    NNODES=1:nnodes); returns [(process, log path)]."""
    port, agents = free_port(), []
    for node in range(nnodes):
        agent_env = {**os.environ, 'PYTHON': sys.executable, 'NNODES': f'1:{nnodes}' if elastic else str(nnodes),
                     'NODE_RANK': str(node),
                     'MASTER_ADDR': '127.0.0.1', 'PORT': str(port), 'OMP_NUM_THREADS': '1',
                     'PYTHONUNBUFFERED': '1', **(env or {})}
        log_path = cwd / f'agent_{node}_{port}.log'
        with open(log_path, 'w') as log:
            agents.append((subprocess.Popen(['bash', os.path.join(ROOT, 'tools/dist_train.sh'), *args], cwd=cwd,
                                            env=agent_env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True), log_path))
    return agents


def finish(agents, timeout=300):
    """Wait for the agents; returns [(exit status, output)], killing them by their pids after ``timeout``."""
    deadline, results = time.monotonic() + timeout, []
    for process, log_path in agents:
        try:
            status = process.wait(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            for other, _ in agents:
                if other.poll() is None:
                    os.killpg(other.pid, signal.SIGKILL)
            status = 'timed out'
        results.append((status, log_path.read_text()))
    return results


def run_agents(args, cwd, nnodes=2, env=None, timeout=300):
    return finish(start_agents(args, cwd, nnodes, env), timeout)


def wait_for(path, agents, timeout=300):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline and all(p.poll() is None for p, _ in agents), f'{path} never appeared'
        time.sleep(0.01)


@pytest.fixture(scope='module')
def two_node_reference(micro_data):
    """The micro segmentation run on two nodes, never interrupted."""
    results = run_agents([MICRO_SEG, '1', '--work-dir', 'two_node_reference'], micro_data)
    assert all(status == 0 for status, _ in results), results[0][1][-3000:]
    return checkpoint_weights(micro_data / 'two_node_reference/iter_12.pth')


@pytest.mark.slow  # about 40 s (AMD EPYC): torchrun starts the workers again MAX_RESTARTS times
def test_bad_data_found_by_rank_0_stops_every_node_at_once_with_its_message(micro_data, tmp_path):
    (tmp_path / 'data').symlink_to(micro_data / 'data')
    missing = 'data/toy_coco/train2017/000099.jpg'
    config = tmp_path / 'renamed_image.py'
    # the annotation file names an image that is not there: rank 0 finds it before the first iteration
    annotations = (micro_data / 'data/toy_coco/annotations/instances_train2017.json').read_text()
    (tmp_path / 'renamed.json').write_text(annotations.replace('000003.jpg', '000099.jpg'))
    config.write_text(f'_base_ = [{MICRO_DET!r}]\n'
                      f"train_dataloader = dict(dataset=dict(ann_file='{tmp_path}/renamed.json'))\n")
    results = run_agents([str(config), '1', '--work-dir', 'w'], tmp_path)
    message = f'DatasetError: 1 of 6 images of CocoDataset ({tmp_path}/renamed.json) do not exist, e.g. {missing}'
    for node, (status, output) in enumerate(results):
        assert status not in (0, 'timed out') and message in output, (node, status, output[-3000:])


@pytest.mark.slow  # about 35 s with the reference run (AMD EPYC)
def test_a_worker_killed_is_restarted_on_every_node_and_resumes(micro_data, two_node_reference, tmp_path):
    work_dir = tmp_path / 'worker_killed'
    agents = start_agents([MICRO_SEG, '1', '--work-dir', str(work_dir)], micro_data)
    wait_for(work_dir / 'iter_4.pth', agents)
    killed = child_pids(agents[1][0].pid)
    os.kill(killed[0], signal.SIGKILL)
    results = finish(agents)
    for status, output in results:
        assert status == 0, output[-3000:]
    # torchrun counts the restart on the node whose worker failed (either may be first); rank 0 logs
    assert re.search(r'restarted by torchrun \(TORCHELASTIC_RESTART_COUNT=1\) on rank \d: resuming from '
                     rf'{work_dir}/iter_\d+.pth at iteration', results[0][1]), results[0][1][-3000:]
    assert max_difference(checkpoint_weights(work_dir / 'iter_12.pth'), two_node_reference) <= 1e-6


@pytest.mark.slow  # about 30 s (AMD EPYC)
def test_sigterm_to_one_rank_stops_both_after_the_same_iteration(micro_data, two_node_reference, tmp_path):
    """Only rank 1 is told to stop: the ranks agree (a flag all-reduced each iteration) and both stop after
    the same iteration; the same command again continues to the uninterrupted weights."""
    work_dir = tmp_path / 'preempted'
    # ranks that disagreed would wait for each other: a short collective timeout makes that fail fast
    args = [MICRO_SEG, '1', '--work-dir', str(work_dir), '--cfg-options', 'env_cfg.dist_cfg.timeout=30']
    agents = start_agents(args, micro_data, env={'MAX_RESTARTS': '0'})
    wait_for(work_dir / 'iter_4.pth', agents)
    os.kill(child_pids(agents[1][0].pid)[0], signal.SIGTERM)
    results = finish(agents, timeout=120)
    for status, output in results:
        # a rank that stopped alone would leave the other waiting in its next collective: no exit status 75
        assert status != 0 and f'exitcode: {PREEMPTED_EXIT_CODE}' in output, output[-3000:]
    # rank 0 got no signal: it stops because its peer did, after the same iteration, and saves that iteration
    stopped = re.findall(r'a peer received: stopped after iteration (\d+),', results[0][1])
    assert len(stopped) == 1, results[0][1][-3000:]
    assert (work_dir / 'preempted').read_text() == str(work_dir / f'iter_{stopped[0]}.pth')
    results = run_agents(args, micro_data)
    assert all(status == 0 for status, _ in results), results[0][1][-3000:]
    assert max_difference(checkpoint_weights(work_dir / 'iter_12.pth'), two_node_reference) <= 1e-6


@pytest.mark.slow  # about 35 s (AMD EPYC)
def test_an_elastic_job_that_loses_a_node_for_good_stops_with_both_world_sizes(micro_data, tmp_path):
    work_dir = tmp_path / 'node_lost'
    agents = start_agents([MICRO_SEG, '1', '--work-dir', str(work_dir)], micro_data,
                          env={'MAX_RESTARTS': '1', 'RDZV_CONF': 'last_call_timeout=5'}, elastic=True)
    wait_for(work_dir / 'iter_4.pth', agents)
    for pid in child_pids(agents[1][0].pid):  # the node is gone: its workers (own sessions) and its agent
        os.kill(pid, signal.SIGKILL)
    os.killpg(agents[1][0].pid, signal.SIGKILL)
    started = time.monotonic()
    status, output = finish(agents[:1])[0]
    assert status not in (0, 'timed out') and time.monotonic() - started < 240, output[-3000:]
    assert (f'cannot resume {work_dir}/iter_4.pth: it was trained by 2 processes and this run has 1') in output, \
        output[-3000:]


@pytest.mark.slow  # about 30 s (AMD EPYC)
def test_a_peer_that_hangs_is_an_error_within_the_collective_timeout(micro_data, tmp_path):
    """A worker that stops answering (SIGSTOP: a stuck GPU, a network partition) ends the job after the
    collective timeout, not after torch's default of 30 minutes."""
    work_dir = tmp_path / 'peer_hangs'
    agents = start_agents([MICRO_SEG, '1', '--work-dir', str(work_dir), '--cfg-options', 'env_cfg.dist_cfg.timeout=10'],
                          micro_data, env={'MAX_RESTARTS': '0'})
    wait_for(work_dir / 'iter_4.pth', agents)
    stopped = child_pids(agents[1][0].pid)[0]
    os.kill(stopped, signal.SIGSTOP)
    started = time.monotonic()
    status, output = finish(agents[:1], timeout=150)[0]
    assert status not in (0, 'timed out') and time.monotonic() - started < 60, output[-3000:]
    assert 'Timed out waiting 10000ms' in output, output[-3000:]
    os.kill(stopped, signal.SIGKILL)  # as its node's own agent would, 30 s after asking it to stop
    finish(agents[1:], timeout=60)
