"""2D families equal MMAction2's: same state-dict keys and shapes, same eval scores.

The expected values come from MMAction2 1.2.0 (tools/dev/make_fixtures_2d.py writes
tests/fixtures/zoo_2d/*.pt); weights and input are regenerated here by the same
deterministic functions, imported from that script.
"""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.registry import MODELS, build

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "zoo_2d"

_spec = importlib.util.spec_from_file_location("make_fixtures_2d",
                                               ROOT / "tools" / "dev" / "make_fixtures_2d.py")
fixtures_2d = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fixtures_2d)


@pytest.mark.parametrize("name", sorted(fixtures_2d.FAMILIES))
def test_matches_mmaction2(name: str) -> None:
    cfg, shape = fixtures_2d.FAMILIES[name]
    expected = torch.load(FIXTURES / f"{name}.pt", weights_only=True)
    model = build(copy.deepcopy(cfg), MODELS, "model")
    state = model.state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == expected["shapes"]
    model.load_state_dict(fixtures_2d.fill_state_dict(state, expected["seed"]), strict=True)
    got = fixtures_2d.scores(model, shape, expected["seed"])
    assert got.shape == expected["scores"].shape
    torch.testing.assert_close(got, expected["scores"], atol=1e-4, rtol=0)
