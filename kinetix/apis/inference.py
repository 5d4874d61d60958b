"""Recognise the action in one video from Python, as with MMAction2::

    from kinetix.apis import init_recognizer, inference_recognizer
    model = init_recognizer('configs/recognition/tsm/...py', 'tsm.pth', device='cpu')
    result = inference_recognizer(model, 'video.mp4')
    result.pred_score   # (num_classes,) scores, the config's test averaging applied
    result.pred_label   # tensor([class])

The video goes through the config's test pipeline (``test_pipeline``, else
``test_dataloader.dataset.pipeline``), all its clips and crops, as in test.py.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

import kinetix.engine  # noqa: F401  (registers every type a config names)
from kinetix.config import apply_cfg_options, load_config
from kinetix.data import collate
from kinetix.data.decoding import UndecodableVideoError
from kinetix.engine.checkpoint import load_checkpoint, load_model_weights
from kinetix.errors import ConfigError, DataError
from kinetix.registry import MODELS, TRANSFORMS, build


@dataclass
class ActionResult:
    """What MMAction2's ``ActionDataSample`` carries after a prediction."""
    pred_score: torch.Tensor          # (num_classes,), or (views, num_classes) with average_clips=None
    pred_label: torch.Tensor          # (1,): the top class
    filename: str = ""
    inputs: torch.Tensor | None = field(default=None, repr=False)  # what the model saw (uint8)

    def topk(self, k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` best classes as ``(class, score)``, best first."""
        scores = self.pred_score.float()
        scores = scores.mean(0) if scores.dim() == 2 else scores
        values, order = scores.topk(min(k, scores.numel()))
        return [(int(i), float(v)) for v, i in zip(values, order)]


def _no_pretrained(model_cfg: dict) -> None:
    """The checkpoint replaces every weight: do not download ImageNet ones first."""
    for part in ("backbone", "cls_head"):
        if isinstance(model_cfg.get(part), dict) and model_cfg[part].get("pretrained"):
            model_cfg[part]["pretrained"] = None


def init_recognizer(config: str | os.PathLike | dict, checkpoint: str | None = None,
                    device: str | torch.device = "cpu", cfg_options: dict | None = None) -> torch.nn.Module:
    """Build the config's model, load ``checkpoint`` (a path or URL; None: random weights),
    put it on ``device`` in eval mode. The config is kept as ``model.cfg``."""
    if isinstance(config, (str, os.PathLike)):
        cfg = load_config(config)
    elif isinstance(config, dict):
        cfg = copy.deepcopy(config)
    else:
        raise ConfigError(f"init_recognizer: config must be a file name or a config dict, got {type(config).__name__}")
    if cfg_options:
        apply_cfg_options(cfg, cfg_options)
    if not isinstance(cfg.get("model"), dict):
        raise ConfigError(f"{config}: no model")
    _no_pretrained(cfg["model"])
    model = build(cfg["model"], MODELS, "model")
    if checkpoint is not None:
        load_model_weights(model, load_checkpoint(checkpoint), checkpoint, strict=True)
    model.cfg = cfg
    return model.to(torch.device(device)).eval()


def test_pipeline(cfg: dict) -> list[Callable[[dict], dict]]:
    steps = cfg.get("test_pipeline")
    key = "test_pipeline"
    if not isinstance(steps, list):
        steps = ((cfg.get("test_dataloader") or {}).get("dataset") or {}).get("pipeline")
        key = "test_dataloader.dataset.pipeline"
    if not isinstance(steps, list) or not steps:
        raise ConfigError("test_pipeline: the config has no test pipeline (nor test_dataloader.dataset.pipeline)")
    return [build(step, TRANSFORMS, f"{key}.{i}") if isinstance(step, dict) else step for i, step in enumerate(steps)]


@torch.no_grad()
def inference_recognizer(model: torch.nn.Module, video: str | os.PathLike | dict,
                         test_pipeline: list[Callable[[dict], dict]] | None = None) -> ActionResult:
    """Predict one video (a file, or a dict the pipeline starts from, e.g. a frame folder's
    ``dict(frame_dir=..., total_frames=..., start_index=1, filename_tmpl=..., modality='RGB')``)."""
    cfg = getattr(model, "cfg", None)
    if test_pipeline is None:
        if not isinstance(cfg, dict):
            raise ConfigError("inference_recognizer: the model has no .cfg; build it with init_recognizer "
                              "or pass test_pipeline")
        test_pipeline = globals()["test_pipeline"](cfg)
    if isinstance(video, dict):
        data = dict(video)
        name = str(data.get("filename") or data.get("frame_dir") or "")
    else:
        name = os.fspath(video)
        if not Path(name).is_file():
            raise DataError(f"{name}: no such video file")
        data = dict(filename=name, label=-1, start_index=0, modality="RGB")
    data.setdefault("label", -1)
    data.setdefault("index", 0)
    try:
        for step in test_pipeline:
            data = step(data)
    except UndecodableVideoError as exc:
        raise DataError(f"{name}: cannot be decoded: {exc.reason}") from None
    finally:
        reader = data.get("video_reader") if isinstance(data, dict) else None
        if reader is not None and hasattr(reader, "close"):
            reader.close()
    batch = collate([data])
    device = next(model.parameters()).device
    scores = model(_to(batch, device), mode="predict")[0].float().cpu()
    label = scores.argmax(dim=-1, keepdim=True)
    return ActionResult(pred_score=scores, pred_label=label, filename=name, inputs=batch["inputs"][0])


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
