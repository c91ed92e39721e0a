"""Running the command-line tools (ours and mmdet's/mmseg's packaged ones) and other processes."""
import os
import signal
import subprocess
import sys
import time

from .paths import ROOT


def run(command, cwd=ROOT, env=None, ok=True, timeout=900, status=None):
    """Run ``command`` in ``cwd``; returns stdout+stderr, asserting the exit status is 0 (``ok``), not 0, or
    ``status``."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env={**os.environ, 'PYTHONUNBUFFERED': '1', **(env or {})})
    output = result.stdout + result.stderr
    if status is None:
        assert (result.returncode == 0) == ok, output[-4000:]
    else:
        assert result.returncode == status, f'exit status {result.returncode}: {output[-4000:]}'
    return output


def run_tool(args, cwd=ROOT, **kwargs):
    """Run ``python ARGS`` with this interpreter (see :func:`run`)."""
    return run([sys.executable, *args], cwd, **kwargs)


def child_pids(pid: int) -> list:
    """The processes ``pid`` started (Linux /proc): a torchrun agent's workers, a trainer's data-loader workers."""
    children = []
    for task in os.listdir(f'/proc/{pid}/task'):
        with open(f'/proc/{pid}/task/{task}/children') as f:
            children += [int(child) for child in f.read().split()]
    return children


def kill_when_logged(args, cwd, text, timeout=300) -> str:
    """Run ``python ARGS`` in ``cwd`` in its own process group and SIGKILL the group (workers included) as
    soon as its output shows ``text``; returns the output, asserting that the kill, not the run, ended it."""
    log_path = os.path.join(cwd, f'killed_{os.getpid()}_{time.monotonic_ns()}.log')
    with open(log_path, 'w') as log:
        process = subprocess.Popen([sys.executable, *args], cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env={**os.environ, 'PYTHONUNBUFFERED': '1'})
    deadline, seen = time.monotonic() + timeout, False
    while process.poll() is None:
        with open(log_path) as f:
            seen = text in f.read()
        if seen or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)
    returncode = process.wait()
    with open(log_path) as f:
        output = f.read()
    assert seen and returncode == -signal.SIGKILL, f'not killed (exit status {returncode}):\n{output[-4000:]}'
    return output


def load_in_fresh_process(path) -> str:
    """Load ``path`` with ``torch.load(weights_only=True)`` in a Python process that imports nothing of ours."""
    code = ('import sys, torch; checkpoint = torch.load(sys.argv[1], weights_only=True); '
            "assert not [m for m in sys.modules if m.split('.')[0] in "
            "('mambavision_mm', 'mmdet_plugin', 'mmseg_plugin', 'mambavision_backbone', 'mmengine')]; "
            "print(sorted(checkpoint))")
    return run_tool(['-c', code, str(path)], cwd=ROOT)
