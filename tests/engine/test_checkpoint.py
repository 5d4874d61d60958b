import os
import sys
import types

import numpy as np
import pytest
import torch

from kinetix.engine.checkpoint import (extract_state_dict, load_checkpoint, load_model_weights,
                                       save_checkpoint)
from kinetix.errors import CheckpointError


def _fake_mmengine_checkpoint(path):
    """A checkpoint like MMAction2's: mmengine objects (with numpy inside) in message_hub."""
    module = types.ModuleType("mmengine_fake.logging")

    class HistoryBuffer:
        def __init__(self):
            self._log_history = np.arange(5.0)

    class MessageHub:
        def __init__(self):
            self.log_scalars = {"train/loss": HistoryBuffer()}
            self.runtime_info = {"epoch": 3}

    for cls in (HistoryBuffer, MessageHub):
        cls.__module__ = module.__name__
        cls.__qualname__ = cls.__name__
        setattr(module, cls.__name__, cls)
    parent = types.ModuleType("mmengine_fake")
    parent.logging = module
    sys.modules.update({"mmengine_fake": parent, module.__name__: module})
    try:
        torch.save({"meta": {"epoch": 3}, "state_dict": {"module.fc.weight": torch.ones(2, 3)},
                    "message_hub": MessageHub()}, path)
    finally:
        del sys.modules[module.__name__], sys.modules["mmengine_fake"]  # the loader must not need them


def test_loads_mmaction_style_checkpoint_without_its_classes(tmp_path):
    path = tmp_path / "mm.pth"
    _fake_mmengine_checkpoint(path)
    ckpt = load_checkpoint(path)
    assert "mmengine_fake.logging" not in sys.modules
    state = extract_state_dict(ckpt)
    assert list(state) == ["fc.weight"]  # module. prefix stripped
    assert torch.equal(state["fc.weight"], torch.ones(2, 3))


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_refuses_to_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "x": _Evil()}, path)
    with pytest.raises(CheckpointError, match="evil.pth"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_save_is_atomic_and_round_trips(tmp_path):
    path = tmp_path / "sub" / "epoch_1.pth"
    save_checkpoint({"state_dict": {"w": torch.arange(3)}, "meta": {"epoch": 1}}, path)
    assert [p.name for p in path.parent.iterdir()] == ["epoch_1.pth"]  # no temp file left
    assert load_checkpoint(path)["meta"]["epoch"] == 1


def test_failed_save_leaves_nothing(tmp_path):
    path = tmp_path / "epoch_2.pth"
    with pytest.raises(Exception):
        save_checkpoint({"bad": lambda: None}, path)  # lambdas cannot be pickled
    assert list(tmp_path.iterdir()) == []


def test_errors(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="URL is not supported yet"):
        load_checkpoint("https://example.com/x.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pth"):
        load_checkpoint(garbage)


def test_load_model_weights_checks_shapes_and_overlap():
    model = torch.nn.Linear(3, 2)
    with pytest.raises(CheckpointError, match="none of its"):
        load_model_weights(model, {"state_dict": {"other.weight": torch.zeros(1)}}, "x.pth")
    with pytest.raises(CheckpointError, match=r"weight has shape \(3, 3\)"):
        load_model_weights(model, {"state_dict": {"weight": torch.zeros(3, 3)}}, "x.pth")
    missing, unexpected = load_model_weights(model, {"state_dict": {"weight": torch.ones(2, 3)}}, "x.pth")
    assert missing == ["bias"] and unexpected == []
    assert torch.equal(model.weight.data, torch.ones(2, 3))
