"""custom_hooks: built from the user's registered classes and run in mmengine's priority order."""

from pathlib import Path

import pytest

from kinetix.config import load_config
from kinetix.engine import Hook
from kinetix.engine.hooks import CheckpointHook, LoggerHook, SyncBuffersHook, ValidationHook
from kinetix.engine.runner import _hooks
from kinetix.errors import ConfigError
from kinetix.registry import HOOKS

TSM = Path(__file__).resolve().parents[2] / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py"


class RecordingHook(Hook):
    def __init__(self, tag: str = "") -> None:
        self.tag = tag


class MMEngineStyleHook(Hook):
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):  # never called by kinetix
        pass


for _cls in (RecordingHook, MMEngineStyleHook):
    if _cls.__name__ not in HOOKS:
        HOOKS.register_module(module=_cls)


def hooks_for(custom_hooks):
    cfg = load_config(str(TSM))
    cfg["custom_hooks"] = custom_hooks
    return _hooks(cfg, ValidationHook(lambda trainer: {}))


def test_custom_hooks_run_by_priority_then_in_order():
    hooks = hooks_for([dict(type="RecordingHook", tag="normal-1"),
                       dict(type="RecordingHook", tag="last", priority="LOWEST"),
                       dict(type="RecordingHook", tag="first", priority="VERY_HIGH"),
                       dict(type="RecordingHook", tag="normal-2", priority=50)])
    names = [getattr(h, "tag", type(h).__name__) for h in hooks]
    assert names == ["first", "SyncBuffersHook", "normal-1", "normal-2", "LoggerHook", "ValidationHook",
                     "CheckpointHook", "last"]
    assert [type(h) for h in hooks if not isinstance(h, RecordingHook)] == \
        [SyncBuffersHook, LoggerHook, ValidationHook, CheckpointHook]


def test_hooks_kinetix_cannot_run_are_skipped_with_a_warning():
    with pytest.warns(UserWarning, match=r"custom_hooks\.0: MMEngineStyleHook is not a kinetix hook "
                                         r"\(it defines mmengine's after_train_iter\).*skipped"):
        hooks = hooks_for([dict(type="MMEngineStyleHook"), dict(type="RecordingHook", tag="kept")])
    assert not any(isinstance(h, MMEngineStyleHook) for h in hooks)
    with pytest.warns(UserWarning, match=r"custom_hooks\.0\.type: unknown hook type 'DetVisualizationHook'.*skipped"):
        hooks = hooks_for([dict(type="DetVisualizationHook", draw=True)])
    assert [type(h) for h in hooks] == [SyncBuffersHook, LoggerHook, ValidationHook, CheckpointHook]


@pytest.mark.parametrize("priority", ["SOMETIMES", 101, True])
def test_a_bad_priority_names_the_key(priority):
    with pytest.raises(ConfigError, match=r"^custom_hooks\.0\.priority"):
        hooks_for([dict(type="RecordingHook", priority=priority)])


def test_custom_hooks_must_be_a_list():
    with pytest.raises(ConfigError, match="custom_hooks: expected a list"):
        hooks_for(dict(type="RecordingHook"))


@pytest.mark.parametrize("bad, message", [
    (dict(momentum=5), r"custom_hooks\.0\.momentum: expected .*between 0 and 1, got 5"),
    (dict(ema_type="StochasticWeightAverage"), r"custom_hooks\.0\.ema_type: expected one of 'ExponentialMovingAverage'"),
    (dict(interval=0), r"custom_hooks\.0\.interval: expected a positive int, got 0"),
])
def test_ema_hook_settings_are_checked(bad, message):
    with pytest.raises(ConfigError, match=message):
        hooks_for([dict(type="EMAHook", **bad)])
    from kinetix.engine.ema import EMAHook
    assert any(isinstance(h, EMAHook) for h in hooks_for([dict(type="EMAHook", momentum=0.001)]))
