"""The top-level config keys that kinetix reads, and what each holds.

Everything else at the top level of a config file is a variable of the file
itself (``train_pipeline``, ``data_root``, ``max_epochs``...): its value was
copied where the file used it when the file ran, so changing it afterwards
changes nothing that is used.
"""

from __future__ import annotations

from typing import Any

ENGINE_KEYS: dict[str, Any] = {
    "model": dict,
    "train_dataloader": dict | None,
    "val_dataloader": dict | None,
    "test_dataloader": dict | None,
    "train_cfg": dict | None,
    "val_cfg": dict | None,
    "test_cfg": dict | None,
    "val_evaluator": dict | list[dict] | None,
    "test_evaluator": dict | list[dict] | None,
    "optim_wrapper": dict | None,
    "param_scheduler": dict | list[dict] | None,
    "default_hooks": dict[str, dict | None] | None,
    "custom_hooks": list[dict] | None,
    "custom_imports": dict | None,
    "env_cfg": dict | None,
    "randomness": dict | None,
    "auto_scale_lr": dict | None,
    "work_dir": str | None,
    "load_from": str | None,
    "resume": bool | None,
    "default_scope": str | None,
    # kinetix's own: the decoder of every video Init transform that names no
    # `backend` ('pyav', the default; 'torchcodec'; 'decord'): see data/video_backends.py.
    "video_backend": str | None,
    # Speed switches (kinetix/engine/speed.py): mmengine's `compile` (True or a dict of
    # torch.compile options), and channels-last memory (default: on for CUDA).
    "compile": bool | dict | None,
    "channels_last": bool | None,
    # Where scalars go (scalars.json, TensorBoard, W&B): see engine/vis_backends.py.
    "visualizer": dict | None,
}

# Sections whose keys are all optional, so that a dotted --cfg-options key may
# start one from nothing (randomness.seed=0). The others need their whole
# structure (a dataset, a type...), which a single key cannot give.
OPTIONAL_SECTIONS = frozenset({"randomness", "env_cfg", "auto_scale_lr", "custom_imports",
                               "default_hooks", "train_cfg", "val_cfg", "test_cfg"})

# Top-level keys of mmengine configs that kinetix accepts and ignores (with a warning).
MMENGINE_ONLY_KEYS = ("log_processor", "log_level", "launcher",
                      "experiment_name", "model_wrapper_cfg", "strategy",
                      "cfg")
