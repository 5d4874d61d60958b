"""Whole recognizers built from MMAction2's config files give MMAction2 1.2.0's scores.

Each fixture under tests/fixtures/parity/configs was made by MMAction2 itself
(tools/dev/make_parity_fixtures.py): the prepared model config (transformers shrunk as
check_parity.py shrinks them), the state-dict names and shapes, and the fp32 eval scores
with every tensor set by a fixed formula. Same names and shapes means MMAction2's
checkpoints load strict=True; same scores means the same computation.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.registry import MODELS, build

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools" / "dev"))
import make_parity_fixtures as maker  # noqa: E402

FIXTURES = sorted(maker.FIXTURES.glob("*.pt"))


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_same_keys_and_scores_as_mmaction2(path: Path) -> None:
    expected = torch.load(path, weights_only=True)
    assert maker.fixture_path(expected["config"]) == path
    torch.manual_seed(0)
    model = build(json.loads(expected["model"]), MODELS, "model").eval()
    assert maker.unpack_keys(maker.pack_keys(model.state_dict())) == \
        maker.unpack_keys(expected["keys"])
    model.load_state_dict(maker.fill(model.state_dict()), strict=True)
    inputs = maker.make_input(expected["spec"], expected["input_shape"][-1])
    assert tuple(inputs.shape) == tuple(expected["input_shape"])
    with torch.no_grad():
        scores = model({"inputs": inputs}, mode="predict").float()
    assert scores.shape == expected["scores"].shape
    bound = 1e-4 * max(1.0, float(expected["scores"].abs().max()))
    assert (scores - expected["scores"]).abs().max().item() <= bound
