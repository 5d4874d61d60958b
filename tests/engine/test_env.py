import os
import random

import numpy as np
import pytest
import torch

from kinetix.engine import env
from kinetix.errors import ConfigError, KinetixError


def test_diff_rank_seed_adds_the_rank(monkeypatch):
    monkeypatch.setattr(env, "get_rank", lambda: 3)
    assert env.resolve_seed(10, diff_rank_seed=True) == (10, 13)
    assert env.resolve_seed(10, diff_rank_seed=False) == (10, 10)


def test_no_seed_draws_one():
    seeds = {env.resolve_seed(None, False)[0] for _ in range(5)}
    assert len(seeds) > 1  # drawn, not a silent constant


def test_set_random_seed_makes_every_generator_repeat():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()
    env.set_random_seed(5, deterministic=False)
    first = draw()
    env.set_random_seed(5, deterministic=False)
    assert draw() == first


def test_deterministic_switches_algorithms_on_and_off():
    env.set_random_seed(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled()
    env.set_random_seed(0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()


def test_cpu_when_cuda_hidden(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert env.select_device().type == "cpu"


TORCHRUN = {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "10.0.0.5", "MASTER_PORT": "29511"}
SLURM = {"SLURM_PROCID": "5", "SLURM_NTASKS": "16", "SLURM_LOCALID": "1", "SLURM_NODELIST": "gpu[03-04]"}
MPI = {"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "1",
       "MASTER_ADDR": "node7"}


@pytest.fixture
def fake_scontrol(tmp_path, monkeypatch):
    """An `scontrol show hostname LIST` that expands gpu[03-04] as Slurm does, and logs its call."""
    script = tmp_path / "scontrol"
    script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/called\necho gpu03; echo gpu04\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    return tmp_path / "called"


def test_pytorch_launcher_reads_torchrun_variables():
    assert env.launcher_env("pytorch", TORCHRUN) == {k: TORCHRUN[k] for k in TORCHRUN}


def test_slurm_launcher_reads_slurm_variables_and_first_host(fake_scontrol):
    out = env.launcher_env("slurm", SLURM)
    assert out == {"RANK": "5", "WORLD_SIZE": "16", "LOCAL_RANK": "1", "MASTER_ADDR": "gpu03",
                   "MASTER_PORT": "29500"}
    assert fake_scontrol.read_text().split() == ["show", "hostname", "gpu[03-04]"]
    assert env.launcher_env("slurm", {**SLURM, "MASTER_PORT": "12345"})["MASTER_PORT"] == "12345"


def test_slurm_launcher_without_scontrol_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no scontrol anywhere
    with pytest.raises(KinetixError, match=r"^--launcher slurm: cannot run 'scontrol show hostname gpu\[03-04\]'"):
        env.launcher_env("slurm", SLURM)


def test_mpi_launcher_reads_open_mpi_variables():
    assert env.launcher_env("mpi", MPI) == {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1",
                                            "MASTER_ADDR": "node7", "MASTER_PORT": "29500"}


@pytest.mark.parametrize("launcher, full", [("pytorch", TORCHRUN), ("slurm", SLURM), ("mpi", MPI)])
def test_a_missing_variable_is_named_in_one_line(launcher, full, fake_scontrol):
    for var in env._REQUIRED[launcher]:
        partial = {k: v for k, v in full.items() if k != var}
        with pytest.raises(KinetixError) as info:
            env.launcher_env(launcher, partial)
        message = str(info.value)
        assert f"--launcher {launcher}: environment variable {var} is not set" in message
        assert "\n" not in message


def test_non_numeric_rank_is_refused():
    with pytest.raises(KinetixError, match="RANK must be a non-negative integer"):
        env.launcher_env("pytorch", {**TORCHRUN, "RANK": "one"})


def test_bad_timeout_names_the_config_key():
    with pytest.raises(ConfigError, match=r"env_cfg\.dist_cfg\.timeout"):
        env.init_distributed("pytorch", {"backend": "gloo", "timeout": "soon"})


def test_no_launcher_is_one_process():
    assert env.init_distributed("none", {"backend": "nccl"}) == []
