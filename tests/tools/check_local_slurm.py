"""Check by hand that tests/tools/local_slurm.py gives a working cluster:

    python tests/tools/check_local_slurm.py

Starts a cluster in a temp dir, runs srun as the Slurm launcher will, prints what it saw,
stops the cluster and checks that no Slurm daemon is left. Then checks the mpirun command line
that works here (as root, stdin closed). Exits non-zero on any failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_slurm import slurm_unavailable_reason, start_local_slurm  # noqa: E402

# --allow-run-as-root: Open MPI refuses root otherwise. --oversubscribe: allow more ranks than
# cores. --bind-to none: by default Open MPI pins each of <=2 ranks to one core.
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "2",
          "-x", "MASTER_ADDR=127.0.0.1"]
MPI_PRINT = ("import os; print(os.environ['OMPI_COMM_WORLD_RANK'], os.environ['OMPI_COMM_WORLD_SIZE'], "
             "os.environ['OMPI_COMM_WORLD_LOCAL_RANK'], os.environ.get('MASTER_ADDR'))")
SRUN = ["srun", "--job-name=check", "--gres=gpu:2", "--ntasks=2", "--ntasks-per-node=2",
        "--cpus-per-task=1", "--kill-on-bad-exit=1"]


def run(cmd: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str, float]:
    start = time.monotonic()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    secs = time.monotonic() - start
    print(f"$ {' '.join(cmd)}\n  rc={res.returncode} in {secs:.2f}s\n  " + (res.stdout + res.stderr).strip().replace("\n", "\n  "))
    return res.returncode, res.stdout, secs


def check(cond: bool, what: str) -> None:
    print(("ok: " if cond else "FAILED: ") + what)
    if not cond:
        raise SystemExit(1)


def live_slurm_daemons() -> list[str]:
    # Zombies (state Z) are already dead and wait only for PID 1 to reap them.
    ps = subprocess.run(["ps", "-eo", "stat=,pid=,comm="], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines() if line.split()[2].startswith("slurm") and not line.startswith("Z")]


def main() -> None:
    if reason := slurm_unavailable_reason():
        sys.exit(f"cannot check: {reason}")
    with tempfile.TemporaryDirectory(prefix="local-slurm-") as tmp:
        started = time.monotonic()
        cluster = start_local_slurm(Path(tmp))
        print(f"cluster up in {time.monotonic() - started:.1f}s: node {cluster.node}, env {cluster.env}")
        try:
            env = {**os.environ, **cluster.env, "MASTER_PORT": "29517"}
            srun = SRUN[:1] + ["-p", cluster.partition] + SRUN[1:]

            rc, out, _ = run(srun + ["bash", "-c", "echo $SLURM_PROCID $SLURM_LOCALID $SLURM_NTASKS "
                                     "$SLURM_NODELIST $CUDA_VISIBLE_DEVICES $MASTER_PORT"], env)
            lines = sorted(out.split("\n")[:-1])
            check(rc == 0 and lines == [f"{i} {i} 2 {cluster.node} 0,1 29517" for i in (0, 1)],
                  "ranks, local ranks, task count, node list, 2 GPUs and MASTER_PORT reach every task")

            rc, out, _ = run(srun + ["bash", "-c", "scontrol show hostname $SLURM_NODELIST"], env)
            check(rc == 0 and out.split() == [cluster.node] * 2, "scontrol show hostname works inside a task")

            rc, _, secs = run(srun + ["bash", "-c", "if [ $SLURM_PROCID = 1 ]; then exit 3; fi; sleep 300"], env)
            check(rc != 0 and secs < 30, f"--kill-on-bad-exit stops task 0 when task 1 fails (rc={rc}, {secs:.1f}s)")

            rc, _, secs = run(["srun", "-p", cluster.partition, "--ntasks=2", "--cpus-per-task=5", "true"], env)
            check(rc != 0 and secs < 30, "--cpus-per-task=5 on a smaller node is refused at once, not left pending")
        finally:
            cluster.stop()
            cluster.stop()  # idempotent
    time.sleep(0.5)
    left = live_slurm_daemons()
    check(not left, f"no Slurm process left after stop() {left or ''}")

    if shutil.which("mpirun"):
        rc, out, _ = run(MPIRUN + [sys.executable, "-c", MPI_PRINT], dict(os.environ))
        check(rc == 0 and sorted(out.split("\n")[:-1]) == [f"{i} 2 {i} 127.0.0.1" for i in (0, 1)],
              "mpirun gives each rank its rank, size, local rank and MASTER_ADDR")
        rc, _, secs = run(MPIRUN + ["bash", "-c", "if [ $OMPI_COMM_WORLD_RANK = 1 ]; then exit 3; fi; sleep 300"],
                          dict(os.environ))
        check(rc == 3 and secs < 30, f"mpirun stops rank 0 when rank 1 fails (rc={rc}, {secs:.1f}s)")


if __name__ == "__main__":
    main()
