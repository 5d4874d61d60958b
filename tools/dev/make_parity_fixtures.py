"""Parity fixtures for whole recognizers, made by MMAction2 1.2.0 from its own config files.

Run with the MMAction2 venv's Python, from the repository root::

    /work/mmaction2-venv/bin/python tools/dev/make_parity_fixtures.py CONFIG [CONFIG ...]

CONFIG is a path under MMAction2's ``.mim/configs/recognition`` (``swin/swin-tiny-...py``).
For each, MMAction2 builds the model as ``check_parity.py`` does (``parity_driver.prepare``:
pretrained weights off, transformers shrunk by ``parity_driver.SMALL``), sets every tensor
by a fixed formula (``fill``: no weights are committed), and scores a fixed input. The
fixture ``tests/fixtures/parity/configs/<family>__<stem>.pt`` keeps the prepared model
config, the state-dict names and shapes, the input shape and the fp32 eval scores;
tests/models/test_parity_fixtures.py rebuilds each in kinetix, without MMAction2.
This file must stay importable without MMAction2.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import parity_driver  # noqa: E402
from make_parity_fixtures_slowfast import fill, pack_keys, unpack_keys  # noqa: E402,F401

FIXTURES = HERE.parent.parent / "tests" / "fixtures" / "parity" / "configs"


def fixture_path(config: str) -> Path:
    family, stem = config.split("/")[0], Path(config).stem
    return FIXTURES / f"{family}__{stem}.pt"


def make_input(spec: dict, size: int) -> torch.Tensor:
    """A batch of one sample of the spec's shape, uint8, from a fixed formula."""
    shape = (1,) + parity_driver.sample_shape(spec, size)
    wave = torch.sin(torch.arange(math.prod(shape), dtype=torch.float64) * 0.377)
    return (wave * 127.5 + 127.5).round().to(torch.uint8).reshape(shape)


def main(argv: list[str]) -> int:
    parity_driver.install_mmpretrain_stand_in()   # before MMAction2 registers MobileOneTSM
    parity_driver.install_timm_stand_in()
    import mmaction
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules
    from mmengine.config import Config

    if not argv:
        print(__doc__)
        return 2
    register_all_modules()
    parity_driver.install_tin_shift_stand_in()   # mmcv-lite has no compiled tin_shift
    parity_driver.install_torchvision_stand_in()   # PyPI torchvision does not load here
    root = Path(mmaction.__file__).parent / ".mim" / "configs" / "recognition"
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for config in argv:
        model_cfg, spec = parity_driver.prepare(Config.fromfile(str(root / config)).to_dict())
        torch.manual_seed(0)
        model = MODELS.build(copy.deepcopy(model_cfg)).eval()
        model.load_state_dict(fill(model.state_dict()), strict=True)
        # A shrunk model at its rule's size; others small first, then (C3D's fc6 fixes the
        # size) at the config's crop size.
        sizes = (() if parity_driver.shrink_rule(model_cfg) else (32,)) + (spec["crop_size"],)
        for size in dict.fromkeys(sizes):
            inputs = make_input(spec, size)
            try:
                scores = parity_driver.Oracle.scores(model, inputs)
                break
            except RuntimeError:
                if size == sizes[-1]:
                    raise
        out = fixture_path(config)
        torch.save({"config": config, "model": json.dumps(model_cfg), "spec": spec,
                    "keys": pack_keys(model.state_dict()), "input_shape": tuple(inputs.shape),
                    "scores": scores}, out)
        print(f"{config}: {len(model.state_dict())} tensors, input {tuple(inputs.shape)}, "
              f"scores |max| {scores.abs().max():.3f} -> {os.path.relpath(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
