"""DataLoader workers die with the process that trains, so a failed rank's job ends at once."""

import os
import signal
import subprocess
import sys
import time

import pytest

PARENT = r"""
import os, sys, time
ready_r, ready_w = os.pipe()
pid = os.fork()
if pid == 0:  # the "worker": set up as kinetix sets up DataLoader workers, then idle
    from kinetix.data.builder import seed_worker
    seed_worker(0, num_workers=1, rank=0, seed=0)
    os.write(ready_w, b"1")
    time.sleep(120)
    os._exit(0)
os.read(ready_r, 1)  # the worker is set up
print(pid, flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for init to reap it counts as gone
        return f.read().split(") ")[1][0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_worker_is_killed_with_its_parent():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    assert alive(worker)
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 5
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    survived = alive(worker)
    if survived:
        os.kill(worker, signal.SIGKILL)
    assert not survived, "the worker outlived the process that trains"
