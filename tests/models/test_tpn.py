"""TPN neck + TPNHead: the auxiliary loss, fcn_test, and MMAction2 checkpoints' new_cls."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch

import kinetix.models  # noqa: F401
from kinetix.errors import ConfigError
from kinetix.registry import MODELS, build
from test_model_zoo import TPN_TSM, _batch


def _model(**changes) -> torch.nn.Module:
    cfg = copy.deepcopy(TPN_TSM)
    cfg.update(changes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fcn_test is a known test_cfg key
        return build(cfg, MODELS, "model")


def test_training_adds_the_aux_loss_to_the_total() -> None:
    torch.manual_seed(0)
    model = _model().train()
    losses = model(_batch((2, 4, 3, 64, 64), "index"), mode="loss")
    assert losses["loss_aux"] > 0
    torch.testing.assert_close(losses["loss"], losses["loss_cls"] + losses["loss_aux"])


def test_fcn_test_pools_time_in_the_head() -> None:
    torch.manual_seed(0)
    model = _model().eval()
    head = model.cls_head
    clip = torch.randn(3, 2048, 4, 2, 2)  # (N, C, T', H, W): fcn_test keeps T'
    expected = head.fc_cls(clip.mean(dim=(2, 3, 4)))
    torch.testing.assert_close(head(clip, num_segs=1, fcn_test=True), expected)
    frames = torch.randn(6, 2048, 2, 2)  # squeezed clips, 2 per sample, averaged like TSN
    expected = head.fc_cls(frames.mean(dim=(2, 3)).view(3, 2, -1).mean(1))
    torch.testing.assert_close(head(frames, num_segs=2), expected)
    with torch.no_grad():
        assert model(_batch((2, 8, 3, 64, 64), "index"), mode="predict").shape == (2, 5)


def test_mmaction2_new_cls_copy_is_dropped_on_load() -> None:
    model = _model()
    state = model.state_dict()
    state["cls_head.new_cls.weight"] = model.cls_head.fc_cls.weight[..., None, None, None].clone()
    state["cls_head.new_cls.bias"] = model.cls_head.fc_cls.bias.clone()
    model.load_state_dict(state, strict=True)
    assert "cls_head.new_cls.weight" not in model.state_dict()


def test_bad_flow_type_and_missing_cfg_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^model.neck.flow_type"):
        _model(neck={**TPN_TSM["neck"], "flow_type": "serial"})
    with pytest.raises(ConfigError, match=r"^model.neck.level_fusion_cfg"):
        _model(neck={**TPN_TSM["neck"], "level_fusion_cfg": None})
