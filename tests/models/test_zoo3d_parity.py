"""The 3D families (CSN, R(2+1)D, C3D, C2D, X3D) against MMAction2 1.2.0's logits.

The expected numbers come from MMAction2 itself (tools/dev/make_fixtures_3d.py, run in
its venv); both sides use the same seeded weights and input from that script.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.registry import MODELS, build

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/fixtures/models/zoo3d_parity.json"


def _load_script():
    spec = importlib.util.spec_from_file_location("make_fixtures_3d",
                                                  ROOT / "tools/dev/make_fixtures_3d.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _load_script()
EXPECTED = json.loads(FIXTURE.read_text())


def test_fixture_covers_every_case() -> None:
    assert set(EXPECTED) == set(SCRIPT.CASES)


@pytest.mark.parametrize("name", sorted(SCRIPT.CASES))
def test_matches_mmaction2(name: str) -> None:
    cfg, shape = SCRIPT.CASES[name]
    expected = EXPECTED[name]
    model = build(copy.deepcopy(cfg), MODELS, "model")
    state = model.state_dict()
    # Same names and shapes as MMAction2's model, so its checkpoints load strictly.
    assert len(state) == expected["num_keys"]
    assert SCRIPT.key_digest(state) == expected["key_digest"]

    SCRIPT.fill_weights(state)
    fresh = build(copy.deepcopy(cfg), MODELS, "model")
    fresh.load_state_dict(state, strict=True)
    got = SCRIPT.scores(fresh, SCRIPT.make_input(tuple(expected["input_shape"])))
    want = torch.tensor(expected["logits"])
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= 1e-4
