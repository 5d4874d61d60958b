"""Process set-up: device, process group, seeds and determinism."""

from __future__ import annotations

import os
import random

import numpy as np
import torch
import torch.distributed as torch_dist

from kinetix.dist import broadcast_object, get_local_rank, get_rank, is_distributed
from kinetix.errors import KinetixError

LAUNCHERS = ("none", "pytorch", "slurm", "mpi")


def select_device() -> torch.device:
    """This process's GPU if one is visible, else the CPU.

    ``CUDA_VISIBLE_DEVICES=-1`` (or empty) hides every GPU, so CUDA reports
    none available and the run stays on the CPU.
    """
    if torch.cuda.is_available():
        device = torch.device("cuda", get_local_rank() % torch.cuda.device_count())
        torch.cuda.set_device(device)
        return device
    return torch.device("cpu")


def init_distributed(launcher: str, backend: str | None = None) -> None:
    """Join the process group the launcher set up (``none``: a single process)."""
    if launcher == "none":
        return
    if launcher != "pytorch":
        raise KinetixError(f"--launcher {launcher}: not supported yet; use torchrun (--launcher pytorch)")
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        if var not in os.environ:
            raise KinetixError(f"--launcher pytorch: environment variable {var} is not set; start with torchrun")
    if backend is None or (backend == "nccl" and not torch.cuda.is_available()):
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(get_local_rank() % torch.cuda.device_count())
    torch_dist.init_process_group(backend=backend)


def shutdown_distributed() -> None:
    """Leave the process group cleanly (avoids an abort at exit under gloo)."""
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
