import random

import numpy as np
import pytest
import torch

from kinetix.engine import env
from kinetix.errors import KinetixError


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


def test_pytorch_launcher_needs_torchrun_environment(monkeypatch):
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(KinetixError, match="MASTER_ADDR|RANK"):
        env.init_distributed("pytorch")
    with pytest.raises(KinetixError, match="not supported yet"):
        env.init_distributed("slurm")
