"""Process set-up: device, process group, seeds and determinism."""

from __future__ import annotations

import datetime
import os
import random
import subprocess
from typing import Any, Mapping

import numpy as np
import torch
import torch.distributed as torch_dist

from kinetix.dist import broadcast_object, get_local_rank, get_rank, is_distributed, make_host_group
from kinetix.errors import ConfigError, KinetixError

LAUNCHERS = ("none", "pytorch", "slurm", "mpi")
DEFAULT_MASTER_PORT = 29500
# How long a collective may wait for the other ranks before the job fails
# (env_cfg.dist_cfg.timeout overrides it). Short on the CPU, so that a rank
# that stops answering ends a job in about a minute instead of torch's 30;
# torch's own NCCL default on GPUs, where rank 0 may write a large checkpoint
# while the others wait.
DEFAULT_TIMEOUT_S = {"cpu": 60, "cuda": 600}

# The variables each launcher sets, read as the spec says.
_REQUIRED = {
    "pytorch": ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"),
    "slurm": ("SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NODELIST"),
    "mpi": ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "MASTER_ADDR"),
}
_HOW_TO_START = {"pytorch": "start it with torchrun or tools/dist_train.sh",
                 "slurm": "start it with srun or tools/slurm_train.sh",
                 "mpi": "start it with mpirun, and export MASTER_ADDR (mpirun -x MASTER_ADDR=host)"}


def select_device() -> torch.device:
    """This process's GPU (by local rank) if one is visible, else the CPU.

    ``CUDA_VISIBLE_DEVICES=-1`` (or empty) hides every GPU, so CUDA reports
    none available and the run stays on the CPU.
    """
    if torch.cuda.is_available():
        device = torch.device("cuda", get_local_rank() % torch.cuda.device_count())
        torch.cuda.set_device(device)
        return device
    return torch.device("cpu")


def launcher_env(launcher: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The torch.distributed ``env://`` variables (RANK, WORLD_SIZE, LOCAL_RANK,
    MASTER_ADDR, MASTER_PORT) that ``launcher`` implies, from ``environ``.

    A missing variable is a one-line error that names it.
    """
    env = dict(os.environ if environ is None else environ)
    if launcher not in _REQUIRED:
        raise KinetixError(f"--launcher {launcher}: unknown; choose from {', '.join(LAUNCHERS)}")
    for var in _REQUIRED[launcher]:
        if not env.get(var):
            raise KinetixError(f"--launcher {launcher}: environment variable {var} is not set; "
                               f"{_HOW_TO_START[launcher]}")
    if launcher == "pytorch":
        out = {k: env[k] for k in _REQUIRED["pytorch"]}
        out["LOCAL_RANK"] = env.get("LOCAL_RANK", "0")
    elif launcher == "slurm":
        out = {"RANK": env["SLURM_PROCID"], "WORLD_SIZE": env["SLURM_NTASKS"],
               "LOCAL_RANK": env["SLURM_LOCALID"],
               "MASTER_ADDR": env.get("MASTER_ADDR") or slurm_first_host(env["SLURM_NODELIST"]),
               "MASTER_PORT": env.get("MASTER_PORT") or str(DEFAULT_MASTER_PORT)}
    else:
        out = {"RANK": env["OMPI_COMM_WORLD_RANK"], "WORLD_SIZE": env["OMPI_COMM_WORLD_SIZE"],
               "LOCAL_RANK": env["OMPI_COMM_WORLD_LOCAL_RANK"], "MASTER_ADDR": env["MASTER_ADDR"],
               "MASTER_PORT": env.get("MASTER_PORT") or str(DEFAULT_MASTER_PORT)}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        if not out[var].isdigit():
            raise KinetixError(f"--launcher {launcher}: {var} must be a non-negative integer, got {out[var]!r}")
    return out


def slurm_first_host(nodelist: str) -> str:
    """The first host of a Slurm node list (``node[01-04]`` -> ``node01``), as Slurm expands it."""
    try:
        proc = subprocess.run(["scontrol", "show", "hostname", nodelist], capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise KinetixError(f"--launcher slurm: cannot run 'scontrol show hostname {nodelist}' to find "
                           f"the master host ({exc}); set MASTER_ADDR") from None
    hosts = proc.stdout.split()
    if proc.returncode != 0 or not hosts:
        detail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise KinetixError(f"--launcher slurm: 'scontrol show hostname {nodelist}' failed: {detail}")
    return hosts[0]


def init_distributed(launcher: str, dist_cfg: Mapping[str, Any] | None = None) -> list[str]:
    """Join the process group the launcher set up (``none``: a single process).

    Returns notes for the run's log (a backend switched to gloo, the timeout).
    """
    if launcher == "none":
        return []
    dist_cfg = dict(dist_cfg or {})
    cuda = torch.cuda.is_available()
    timeout = dist_cfg.get("timeout", DEFAULT_TIMEOUT_S["cuda" if cuda else "cpu"])
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError(f"env_cfg.dist_cfg.timeout: expected a positive number of seconds, got {timeout!r}")
    notes = []
    backend = dist_cfg.get("backend") or ("nccl" if cuda else "gloo")
    if backend == "nccl" and not cuda:
        # MMAction2's default_runtime asks for NCCL; on a machine without GPUs
        # the same config runs one process per "GPU" over gloo.
        notes.append("env_cfg.dist_cfg.backend='nccl' needs GPUs and none is visible: using gloo on the CPU")
        backend = "gloo"
    os.environ.update(launcher_env(launcher))  # torch's env:// reads them
    if cuda:
        torch.cuda.set_device(get_local_rank() % torch.cuda.device_count())
    torch_dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout))
    make_host_group()
    notes.append(f"{launcher} launcher: rank {get_rank()} of {torch_dist.get_world_size()}, backend "
                 f"{backend}, collective timeout {timeout:g} s (env_cfg.dist_cfg.timeout)")
    return notes


def shutdown_distributed() -> None:
    """Leave the process group after a successful run.

    All ranks wait for each other, then the group is destroyed; without this,
    gloo's threads can abort the process at exit ("terminate called without an
    active exception") and the launcher reports a failure.
    """
    if is_distributed():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def resolve_seed(seed: int | None, diff_rank_seed: bool) -> tuple[int, int]:
    """(run seed, this rank's seed). Without a seed, rank 0 draws one for all."""
    if seed is None:
        seed = broadcast_object(int(np.random.default_rng().integers(2**31)) if get_rank() == 0 else None)
    return seed, seed + get_rank() if diff_rank_seed else seed


def set_random_seed(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this workspace setting to be deterministic.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = deterministic
    torch.use_deterministic_algorithms(deterministic)
