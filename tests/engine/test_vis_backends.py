"""visualizer.vis_backends: scalars.json, TensorBoard event files read back, W&B with a fake module."""

import json
import sys
import types
import warnings
from pathlib import Path

import pytest

from kinetix import cli
from kinetix.config import load_config
from kinetix.engine.config_check import check_config
from kinetix.engine.vis_backends import build_visualizer
from kinetix.errors import ConfigError, ConfigWarning

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
from tensorboard.util import tensor_util  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TSM = str(REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py")
LOCAL_AND_TB = {"type": "ActionVisualizer",
                "vis_backends": [{"type": "LocalVisBackend"}, {"type": "TensorboardVisBackend"}]}


def read_events(folder: Path) -> event_accumulator.EventAccumulator:
    acc = event_accumulator.EventAccumulator(str(folder), size_guidance={event_accumulator.SCALARS: 0,
                                                                          event_accumulator.TENSORS: 0})
    acc.Reload()
    return acc


def config_text_of(acc: event_accumulator.EventAccumulator) -> str:
    value = tensor_util.make_ndarray(acc.Tensors("config/text_summary")[0].tensor_proto)
    return value.reshape(-1)[0].decode()


def test_rows_reach_scalars_json_and_tensorboard(tmp_path):
    vis = build_visualizer(LOCAL_AND_TB, tmp_path)
    vis.add_config("model = dict(\n    type='Recognizer2D')\n")
    rows = [{"lr": 0.01, "eta": 30.0, "time": 0.5, "loss": 2.0, "epoch": 1, "iter": 2, "step": 2},
            {"lr": 0.02, "eta": 10.0, "time": 0.4, "loss": 1.5, "epoch": 1, "iter": 4, "step": 4},
            {"acc/top1": 0.25, "epoch": 1, "step": 4}]
    for row in rows:
        vis.write(row)
    vis.close()
    folder = tmp_path / "vis_data"
    assert [json.loads(line) for line in (folder / "scalars.json").read_text().splitlines()] == rows
    assert (folder / "config.py").read_text().startswith("model = dict(")
    acc = read_events(folder)
    assert set(acc.Tags()["scalars"]) == {"lr", "time", "loss", "acc/top1"}  # no eta, epoch, iter, step
    assert [(e.step, e.value) for e in acc.Scalars("loss")] == [(2, 2.0), (4, 1.5)]
    assert [(e.step, pytest.approx(e.value)) for e in acc.Scalars("acc/top1")] == [(4, 0.25)]
    assert "    type='Recognizer2D')" in config_text_of(acc)


def test_training_writes_tensorboard_events(synthetic_options, tmp_path):
    work, config = tmp_path / "work", tmp_path / "tsm_tb.py"
    config.write_text(f"_base_ = {TSM!r}\nvisualizer = {LOCAL_AND_TB!r}\n")
    options = [*synthetic_options(epochs=1, batch_size=8), "default_hooks.logger.interval=2",
               "train_cfg.val_interval=1"]
    assert cli.train_main([str(config), "--work-dir", str(work), "--cfg-options", *options]) == 0
    folder = next(work.glob("*/vis_data"))
    rows = [json.loads(line) for line in (folder / "scalars.json").read_text().splitlines()]
    acc = read_events(folder)
    train_rows = [r for r in rows if "loss" in r]
    assert len(train_rows) == 2  # 4 iterations, one row every 2
    assert [(e.step, pytest.approx(e.value)) for e in acc.Scalars("loss")] == \
        [(r["step"], pytest.approx(r["loss"])) for r in train_rows]
    assert {"lr", "time", "data_time", "top1_acc", "acc/top1", "acc/mean1"} <= set(acc.Tags()["scalars"])
    assert "TSM" in config_text_of(acc) or "tsm" in config_text_of(acc).lower()


class FakeWandb(types.ModuleType):
    """Stands in for the wandb package and records what it is asked."""

    def __init__(self) -> None:
        super().__init__("wandb")
        self.calls: list[tuple] = []
        self.config = types.SimpleNamespace(update=lambda d, **kw: self.calls.append(("config", d, kw)))

    def init(self, **kwargs):
        self.calls.append(("init", kwargs))

    def define_metric(self, name, **kwargs):
        self.calls.append(("define_metric", name, kwargs))

    def log(self, values, step=None, commit=True):
        self.calls.append(("log", values, step))

    def finish(self):
        self.calls.append(("finish",))


def test_wandb_backend_with_the_package(tmp_path, monkeypatch):
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    cfg = {"type": "ActionVisualizer", "vis_backends": [{"type": "WandbVisBackend",
                                                         "init_kwargs": {"project": "p"},
                                                         "define_metric_cfg": {"acc/top1": "max"}}]}
    vis = build_visualizer(cfg, tmp_path)
    vis.add_config("a = 1\n")
    vis.write({"loss": 1.0, "lr": 0.1, "eta": 3.0, "epoch": 1, "iter": 5, "step": 5})
    vis.close()
    assert fake.calls[0] == ("init", {"dir": str(tmp_path / "vis_data"), "project": "p"})
    assert ("define_metric", "acc/top1", {"summary": "max"}) in fake.calls
    assert ("config", {"config": "a = 1\n"}, {"allow_val_change": False}) in fake.calls
    assert ("log", {"loss": 1.0, "lr": 0.1}, 5) in fake.calls
    assert fake.calls[-1] == ("finish",)


def test_wandb_backend_without_the_package_warns_once_and_goes_on(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    cfg = {"type": "ActionVisualizer", "vis_backends": [{"type": "LocalVisBackend"}, {"type": "WandbVisBackend"}]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vis = build_visualizer(cfg, tmp_path)
    assert [(w.category, str(w.message).split(":")[0]) for w in caught] == \
        [(ConfigWarning, "visualizer.vis_backends.1")]
    assert "pip install wandb" in str(caught[0].message)
    vis.write({"loss": 1.0, "step": 1})
    vis.close()
    assert json.loads((tmp_path / "vis_data/scalars.json").read_text()) == {"loss": 1.0, "step": 1}


def test_save_dirs_as_mmengine(tmp_path):
    cfg = {"type": "ActionVisualizer", "save_dir": str(tmp_path / "elsewhere"),
           "vis_backends": [{"type": "LocalVisBackend"},
                            {"type": "LocalVisBackend", "save_dir": str(tmp_path / "own")}]}
    vis = build_visualizer(cfg, tmp_path / "run")
    vis.write({"loss": 1.0, "step": 1})
    assert (tmp_path / "elsewhere/vis_data/scalars.json").is_file() and (tmp_path / "own/scalars.json").is_file()
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("visualizer, message", [
    ({"type": "ActionVisualizer", "vis_backends": [{"type": "LocalVisBackend"}, {"type": "TensorBoardVisBackend"}]},
     r"^visualizer\.vis_backends\.1\.type: .*'TensorboardVisBackend'"),
    ({"type": "ActionVisualizer", "vis_backends": [{"save_dir": "x"}]}, r"^visualizer\.vis_backends\.0: missing 'type'"),
    ({"type": "ActionVisualizer", "vis_backends": "tensorboard"}, r"^visualizer\.vis_backends: expected a list"),
    ({"type": "ActionVisualizer", "vis_backends": [{"type": "LocalVisBackend", "scalar_file": "s.json"}]},
     r"^visualizer\.vis_backends\.0\.scalar_file: .*did you mean 'scalar_save_file'"),
    ({"type": "DetLocalVisualizer"}, r"^visualizer\.type: unknown"),
])
def test_bad_visualizer_is_a_one_line_config_error(visualizer, message):
    cfg = load_config(TSM)
    cfg["visualizer"] = visualizer
    with pytest.raises(ConfigError, match=message):
        check_config(cfg, "train")
