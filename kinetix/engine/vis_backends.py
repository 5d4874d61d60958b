"""Where a training run's scalars and config go: MMAction2's ``visualizer.vis_backends``.

    visualizer = dict(type='ActionVisualizer',
                      vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])

Each backend writes into ``<run dir>/vis_data`` unless it names its own
``save_dir`` (``visualizer.save_dir=D`` moves all of them to ``D/vis_data``), as
mmengine does. Only rank 0 writes. A config without ``visualizer`` gets a
LocalVisBackend: ``vis_data/scalars.json``, one JSON object per log interval.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
from pathlib import Path
from typing import Any, Mapping

from kinetix.dist import get_rank
from kinetix.errors import ConfigError, warn_config
from kinetix.registry import Registry, build, check_types

VISUALIZERS = Registry("visualizer")
VIS_BACKENDS = Registry("vis backend")

# Row keys that say where a row belongs rather than what was measured.
_POSITION_KEYS = ("epoch", "iter", "step")


class VisBackend:
    """One destination. ``add_scalars`` gets a row's measured values and its ``step``."""

    def add_config(self, text: str) -> None: ...

    def add_scalars(self, values: Mapping[str, float], step: int, row: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


@VIS_BACKENDS.register
class LocalVisBackend(VisBackend):
    """``scalars.json`` (the whole row, as MMAction2 writes it) and ``config.py`` in ``save_dir``."""

    def __init__(self, save_dir: str, img_save_dir: str = "vis_image", config_save_file: str = "config.py",
                 scalar_save_file: str = "scalars.json") -> None:
        self.dir = Path(save_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.scalars_path = self.dir / scalar_save_file
        self.config_path = self.dir / config_save_file

    def add_config(self, text: str) -> None:
        self.config_path.write_text(text)

    def add_scalars(self, values: Mapping[str, float], step: int, row: Mapping[str, Any]) -> None:
        with open(self.scalars_path, "a") as f:
            f.write(json.dumps({k: _plain(v) for k, v in row.items()}) + "\n")


@VIS_BACKENDS.register
class TensorboardVisBackend(VisBackend):
    """TensorBoard event files in ``save_dir``: every scalar under its own name, the config as text."""

    def __init__(self, save_dir: str) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("TensorboardVisBackend needs the tensorboard package: pip install tensorboard") from None
        self.writer = SummaryWriter(log_dir=str(save_dir))

    def add_config(self, text: str) -> None:
        # Indented: TensorBoard renders text as Markdown, and a code block keeps the layout.
        self.writer.add_text("config", "\n".join("    " + line for line in text.splitlines()))

    def add_scalars(self, values: Mapping[str, float], step: int, row: Mapping[str, Any]) -> None:
        for key, value in values.items():
            self.writer.add_scalar(key, value, global_step=step)
        self.writer.flush()  # a run watched live shows each interval as it comes

    def close(self) -> None:
        self.writer.close()


@VIS_BACKENDS.register
class WandbVisBackend(VisBackend):
    """Weights & Biases, if the ``wandb`` package is installed (else one warning, and nothing)."""

    def __init__(self, save_dir: str, init_kwargs: dict | None = None, define_metric_cfg: dict | list | None = None,
                 commit: bool = True, log_code_name: str | None = None, watch_kwargs: dict | None = None) -> None:
        try:
            self.wandb: Any = importlib.import_module("wandb")
        except ImportError:
            self.wandb = None  # ActionVisualizer warns, naming the config key
            return
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        self.init_kwargs = {"dir": str(save_dir), **(init_kwargs or {})}
        self.commit = commit
        self.wandb.init(**self.init_kwargs)
        metrics = define_metric_cfg or {}
        for item in (metrics.items() if isinstance(metrics, dict) else metrics):
            if isinstance(item, dict):
                self.wandb.define_metric(**item)
            else:
                self.wandb.define_metric(item[0], summary=item[1])

    def add_config(self, text: str) -> None:
        if self.wandb is not None:
            allow = bool(self.init_kwargs.get("allow_val_change", False))
            self.wandb.config.update({"config": text}, allow_val_change=allow)

    def add_scalars(self, values: Mapping[str, float], step: int, row: Mapping[str, Any]) -> None:
        if self.wandb is not None:
            self.wandb.log(dict(values), step=step, commit=self.commit)

    def close(self) -> None:
        if self.wandb is not None:
            self.wandb.finish()


class ActionVisualizer:
    """Sends every logged row to each backend; duck-types the trainer's scalar writer.

    ``write(row)`` takes what LoggerHook and validation log: measured values plus
    ``epoch``/``iter``/``step``. TensorBoard and W&B get the numbers at ``step``
    (the iteration for training rows, the epoch for epoch-based validation, as
    mmengine); scalars.json gets the row unchanged.
    """

    dict_args = ("vis_backends",)  # built here, from VIS_BACKENDS, each with its key path

    def __init__(self, save_dir: str, vis_backends: list[dict] | None = None, name: str = "visualizer",
                 **ignored: Any) -> None:
        for key in ignored:
            warn_config(f"visualizer.{key}", "not used by kinetix (its visualizer only logs scalars); ignored")
        self.backends: list[VisBackend] = []
        if get_rank() != 0:
            return
        for i, backend in enumerate(vis_backends or []):
            key_path = f"visualizer.vis_backends.{i}"
            built = build(backend, VIS_BACKENDS, key_path, save_dir=save_dir)
            if isinstance(built, WandbVisBackend) and built.wandb is None:
                warn_config(key_path, "WandbVisBackend needs the wandb package (pip install wandb), which is "
                                      "not installed; not logging to Weights & Biases, going on")
                continue
            self.backends.append(built)

    def add_config(self, text: str) -> None:
        for backend in self.backends:
            backend.add_config(text)

    def write(self, row: Mapping[str, Any]) -> None:
        row = {k: _plain(v) for k, v in row.items()}
        values = {k: v for k, v in row.items() if k not in (*_POSITION_KEYS, "eta")
                  and isinstance(v, (int, float)) and not isinstance(v, bool)}
        step = int(row.get("step", 0))
        for backend in self.backends:
            backend.add_scalars(values, step, row)

    def close(self) -> None:
        for backend in self.backends:
            backend.close()


VISUALIZERS.register(ActionVisualizer)
VISUALIZERS.register(ActionVisualizer, name="Visualizer")

DEFAULT_VISUALIZER = {"type": "ActionVisualizer", "vis_backends": [{"type": "LocalVisBackend"}]}


def check_visualizer(cfg: Any) -> None:
    """Every type and argument of ``visualizer`` and its backends, before the run starts."""
    if cfg is None:
        return
    if not isinstance(cfg, dict):
        raise ConfigError(f"visualizer: expected a dict with a 'type' key, got {cfg!r}")
    check_types(cfg, VISUALIZERS, "visualizer")
    backends = cfg.get("vis_backends") or []
    if not isinstance(backends, (list, tuple)) or not all(isinstance(b, dict) for b in backends):
        raise ConfigError(f"visualizer.vis_backends: expected a list of dicts with a 'type' key, got {backends!r}")
    for i, backend in enumerate(backends):
        if "type" not in backend:
            raise ConfigError(f"visualizer.vis_backends.{i}: missing 'type' key (got keys {sorted(backend)})")
        check_types(backend, VIS_BACKENDS, f"visualizer.vis_backends.{i}")
        _check_names(VIS_BACKENDS.get(backend["type"]), backend, f"visualizer.vis_backends.{i}")


def _check_names(target: Any, cfg: dict, key_path: str) -> None:
    """A misspelt argument fails now, not when training has set everything else up."""
    accepted = [name for name in inspect.signature(target).parameters if name != "self"]
    for key in cfg:
        if key != "type" and key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (it takes {', '.join(accepted)})"
            raise ConfigError(f"{key_path}.{key}: {target.__name__} takes no argument {key!r}{hint}")


def build_visualizer(cfg: dict | None, run_dir: Path) -> ActionVisualizer:
    """The config's visualizer (default: scalars.json only), writing under ``run_dir/vis_data``."""
    cfg = dict(cfg if cfg is not None else DEFAULT_VISUALIZER)
    # As mmengine: visualizer.save_dir names the folder that holds vis_data.
    save_dir = Path(cfg.pop("save_dir", None) or run_dir) / "vis_data"
    return build(cfg, VISUALIZERS, "visualizer", save_dir=str(save_dir))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
