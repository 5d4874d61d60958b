"""Start a real single-node Slurm cluster on this machine, for tests of the Slurm launcher.

The cluster lives entirely in a work directory: slurm.conf, gres.conf, state, spool, pid and
log files. Clients and daemons find it through ``SLURM_CONF``, so /etc/slurm is never read or
written. The node declares fake GPUs backed by /dev/null and /dev/zero, so ``--gres=gpu:N``
behaves as on a GPU cluster (Slurm sets CUDA_VISIBLE_DEVICES) without any GPU.

Needs root (slurmd must be root to start tasks as the submitting user, and starting munged
means creating /run/munge for the munge user) plus the Debian packages slurmctld, slurmd,
slurm-client and munge. Tested with Slurm 22.05 on a 2-core machine without systemd or cgroups.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PARTITION = "local"
_FAKE_GPU_FILES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]


def slurm_unavailable_reason() -> str | None:
    """Why a local cluster cannot start here (for pytest skips), or None if it can."""
    if os.geteuid() != 0:
        return "local Slurm cluster needs root"
    missing = [p for p in ("slurmctld", "slurmd", "srun", "munged", "munge", "unmunge") if not shutil.which(p)]
    return f"not on PATH: {', '.join(missing)}" if missing else None


@dataclass
class LocalSlurm:
    workdir: Path
    env: dict[str, str]  # add to os.environ so srun/sbatch/scontrol reach this cluster
    partition: str
    node: str
    _procs: list[subprocess.Popen] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        """Cancel jobs, then stop the daemons and anything left of this cluster. Idempotent, bounded."""
        if not self._procs:
            return
        # Cancel first so slurmstepd cleans up its tasks; killing slurmd alone would orphan them.
        _run(["scancel", "--partition", self.partition, "--full"], self.env, timeout=5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _run(["squeue", "-h", "-o", "%i"], self.env, timeout=5).strip():
            time.sleep(0.2)
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        # slurmstepd and job tasks are not our children (slurmd double-forks them) but inherit
        # SLURM_CONF=<our conf>; kill any that survived so nothing outlives the cluster.
        _kill_by_environ(f"SLURM_CONF={self.env['SLURM_CONF']}")
        self._procs.clear()


def start_local_slurm(workdir: Path, gpus: int = 2, timeout: float = 60) -> LocalSlurm:
    """Write the config into ``workdir``, start munged (if needed), slurmctld and slurmd, and
    wait until the node is idle. On failure, stop what was started and raise RuntimeError."""
    if not 0 <= gpus <= len(_FAKE_GPU_FILES):
        raise ValueError(f"gpus must be in 0..{len(_FAKE_GPU_FILES)}")
    deadline = time.monotonic() + timeout
    workdir = Path(workdir).resolve()
    for sub in ("state", "spool", "log"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    node = socket.gethostname().split(".")[0]
    conf = workdir / "slurm.conf"
    conf.write_text(_slurm_conf(workdir, node, gpus))
    (workdir / "gres.conf").write_text("".join(f"Name=gpu File={f}\n" for f in _FAKE_GPU_FILES[:gpus]))
    env = {"SLURM_CONF": str(conf)}
    cluster = LocalSlurm(workdir, env, PARTITION, node)
    daemon_env = {**os.environ, **env}
    try:
        _ensure_munged(deadline)
        # -D: stay in the foreground so stop() can kill them; -c/-i: ignore any saved state.
        for cmd in (["slurmctld", "-D", "-c", "-i"], ["slurmd", "-D", "-c", "-N", node]):
            out = open(workdir / "log" / f"{cmd[0]}.out", "wb")
            cluster._procs.append(subprocess.Popen(cmd, env=daemon_env, stdin=subprocess.DEVNULL,
                                                   stdout=out, stderr=subprocess.STDOUT))
            out.close()
        while (state := _sinfo_state(node, env, deadline)) != "idle":
            dead = [p.args[0] for p in cluster._procs if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = f"{', '.join(dead)} exited" if dead else f"node not idle after {timeout:g}s (state {state!r})"
                raise RuntimeError(f"local Slurm did not start: {why}\n{_log_tails(workdir)}")
            time.sleep(0.5)
    except BaseException:
        cluster.stop()
        raise
    atexit.register(cluster.stop)  # a safety net if the caller forgets; stop() is idempotent
    return cluster


def _sinfo_state(node: str, env: dict[str, str], deadline: float) -> str:
    # sinfo retries while slurmctld is not listening yet; keep it within the caller's deadline.
    timeout = min(5.0, max(0.5, deadline - time.monotonic()))
    return _run(["sinfo", "-h", "-n", node, "-o", "%T"], env, timeout=timeout).strip()


def _slurm_conf(workdir: Path, node: str, gpus: int) -> str:
    ctld_port, slurmd_port = _free_ports(2)
    gres = f" Gres=gpu:{gpus}" if gpus else ""
    return f"""\
ClusterName=kinetix-test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# No systemd or cgroups here: track processes through /proc, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
# Reject at submission a job the node can never run (say --cpus-per-task=5 on 2 CPUs): the
# default leaves it pending forever (Reason=PartitionConfig) and srun hangs.
EnforcePartLimits=ALL
StateSaveLocation={workdir}/state
SlurmdSpoolDir={workdir}/spool
SlurmctldPidFile={workdir}/slurmctld.pid
SlurmdPidFile={workdir}/slurmd.pid
SlurmctldLogFile={workdir}/log/slurmctld.log
SlurmdLogFile={workdir}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Short waits, so failures and stop() are quick in tests.
KillWait=5
MessageTimeout=10
GresTypes=gpu
NodeName={node} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} RealMemory=1000{gres} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def _ensure_munged(deadline: float) -> None:
    """Reuse a running munged, else start one as the munge user (it refuses to run as root).
    It is left running at stop(): it is a machine-wide service and harmless, and a later
    cluster in the same process (or another test) reuses it."""
    if _munge_answers():
        return
    run_dir = Path("/run/munge")
    run_dir.mkdir(mode=0o755, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    # munged forks into the background and returns once it is set up.
    subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True, timeout=30,
                   stdin=subprocess.DEVNULL, capture_output=True)
    while not _munge_answers():
        if time.monotonic() > deadline:
            raise RuntimeError("munged started but does not answer `munge -n | unmunge`")
        time.sleep(0.2)


def _munge_answers() -> bool:
    try:
        cred = subprocess.run(["munge", "-n"], capture_output=True, timeout=5)
        return cred.returncode == 0 and subprocess.run(["unmunge"], input=cred.stdout, capture_output=True,
                                                       timeout=5).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _free_ports(count: int) -> list[int]:
    # Ask the kernel for free ports, holding all sockets open so they differ. Another process
    # could take one before the daemon binds: unlikely, and the start then fails with the logs.
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _run(cmd: list[str], env: dict[str, str], timeout: float) -> str:
    """Run a Slurm client command; its stdout, or "" if it failed or timed out."""
    try:
        res = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True,
                             timeout=timeout, stdin=subprocess.DEVNULL)
        return res.stdout if res.returncode == 0 else ""
    except subprocess.TimeoutExpired:
        return ""


def _kill_by_environ(marker: str) -> None:
    spare = _ancestors()  # a test process or shell that exported SLURM_CONF itself
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit() or int(pid_dir.name) in spare:
            continue
        try:
            if marker.encode() in (pid_dir / "environ").read_bytes().split(b"\0"):
                os.kill(int(pid_dir.name), signal.SIGKILL)
        except OSError:
            pass  # gone already, or not ours to read


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:  # field 4 of /proc/PID/stat is the parent pid; the name before it may hold spaces
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _log_tails(workdir: Path, lines: int = 20) -> str:
    tails = []
    # The daemons' stdout/stderr (*.out) has everything in their log files plus errors from
    # before the log file opened (a bad slurm.conf, say).
    for log in sorted((workdir / "log").glob("*.out")):
        text = log.read_text(errors="replace").splitlines()[-lines:]
        tails.append(f"--- {log.name} (last {len(text)} lines) ---\n" + "\n".join(text))
    return "\n".join(tails)
