"""``test.py --show-dir/--show`` and the training-time ``VisualizationHook``.

For every ``interval``-th sample: an animated GIF of the frames the model saw
(the first crop, all clips in time order) and a PNG contact sheet (one row per
view), each with the ground truth, the top-5 predictions and a red or green
verdict. MMAction2's flags assert on a hook that no shipped config defines;
here they work with any config. The frames are the test batch's (the
pipeline's output, before the model's normalisation), so what is drawn is
exactly what the model was given.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from kinetix.dist import get_rank
from kinetix.engine.drawing import Caption, contact_sheet, gif_frames, sample_views, save_gif
from kinetix.engine.labels import name_of
from kinetix.engine.trainer import Hook
from kinetix.errors import ConfigError
from kinetix.registry import HOOKS

TOP_K = 5
# Transforms that stack several spatial crops of every frame (crop-major).
CROP_COUNTS = {"ThreeCrop": 3, "TenCrop": 10}


def pipeline_rows(pipeline: Sequence[Any] | None) -> int:
    """How many rows an NCHW sample of this pipeline splits into: one per crop (and two
    per crop with ``twice_sample``, which appends a second, shifted set of clips)."""
    rows = 1
    for step in pipeline or []:
        kind = step.get("type") if isinstance(step, dict) else type(step).__name__
        rows *= CROP_COUNTS.get(kind, 1)
        if isinstance(step, dict) and step.get("twice_sample"):
            rows *= 2
    return rows


def display_available() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def caption_for(scores: torch.Tensor, label: Any, classes: Sequence[str] | None, title: str = "",
                top_k: int = TOP_K) -> Caption:
    """The caption of one sample. ``label``: an int, a multi-hot vector, or None (no ground truth)."""
    k = min(top_k, scores.numel())
    values, order = scores.float().topk(k)
    top = [(name_of(classes, int(i)), float(v)) for v, i in zip(values, order)]
    if label is None or (isinstance(label, (int, np.integer)) and label < 0):
        return Caption(truth=[], top=top, title=title, correct=None)
    label = torch.as_tensor(label)
    truth_ids = label.nonzero().flatten().tolist() if label.dim() else [int(label)]
    extra = ""
    missing = [t for t in truth_ids if t not in order.tolist() and 0 <= t < scores.numel()]
    if missing:  # say how far off the true class was
        rank = int((scores.float() > scores.float()[missing[0]]).sum()) + 1
        extra = (f"ground truth {name_of(classes, missing[0])}: {float(scores[missing[0]]):.3f} "
                 f"(rank {rank} of {scores.numel()})")
    return Caption(truth=[name_of(classes, t) for t in truth_ids], top=top, title=title,
                   correct=int(order[0]) in truth_ids, extra=extra)


class Visualizer:
    """Called with each predicted batch and its scores; draws every ``interval``-th sample.

    ``rows``: see :func:`pipeline_rows`. ``suffix`` is added to file names (the
    epoch, for the pictures drawn during training).
    """

    def __init__(self, out_dir: str | os.PathLike | None, show: bool, interval: int = 1, wait_time: float = 2.0,
                 classes: Sequence[str] | None = None, rows: int = 1, gif_ms: int = 250) -> None:
        self.out_dir = Path(out_dir) if out_dir else None
        if self.out_dir:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.show = show
        if show and not display_available():
            warnings.warn("--show: no display available (DISPLAY is not set); not showing, going on",
                          stacklevel=2)
            self.show = False
        self.interval = max(1, int(interval))
        self.wait_time = wait_time
        self.classes = list(classes) if classes else None
        self.rows = rows
        self.gif_ms = gif_ms
        self.suffix = ""
        self.seen = 0
        self.written: list[Path] = []

    def reset(self, suffix: str = "") -> None:
        """Start counting samples again (a new validation pass)."""
        self.seen, self.suffix = 0, suffix

    def __call__(self, batch: dict, scores: torch.Tensor) -> None:
        if scores.dim() == 3:  # average_clips=None kept the views: show their mean score
            scores = scores.mean(dim=1)
        for i in range(len(scores)):
            self.seen += 1
            if (self.seen - 1) % self.interval:
                continue
            filename = batch["filenames"][i] if batch.get("filenames") else ""
            index = int(batch["indices"][i]) if "indices" in batch else self.seen - 1
            labels = batch.get("labels")
            caption = caption_for(scores[i], labels[i] if labels is not None else None, self.classes,
                                  title=filename)
            self.draw(batch["inputs"][i], caption, f"{index:06d}_{Path(filename).stem or index}{self.suffix}")

    def draw(self, inputs: torch.Tensor, caption: Caption, stem: str) -> None:
        views = sample_views(inputs.detach().cpu().numpy(), self.rows)
        sheet = contact_sheet(views, caption, self._row_names(len(views), inputs.dim() == 5))
        if self.out_dir:
            # The GIF plays the first crop through time: all of its clips, in order.
            per_crop = max(1, len(views) // self.rows) if inputs.dim() == 5 else 1
            frames = np.concatenate(views[:per_crop])
            save_gif(gif_frames(frames, caption), str(self.out_dir / f"{stem}.gif"), self.gif_ms)
            sheet.save(self.out_dir / f"{stem}.png")
            self.written += [self.out_dir / f"{stem}.gif", self.out_dir / f"{stem}.png"]
        if self.show:
            self._display(sheet)

    def _row_names(self, n: int, clips_are_views: bool) -> list[str]:
        if not clips_are_views:  # NCHW: one row per crop, all clips in it
            return [f"crop {r + 1}" for r in range(n)]
        crops = self.rows if self.rows > 1 and n % self.rows == 0 else 1
        clips = n // crops
        if crops == 1:
            return [f"clip {v + 1}" for v in range(n)]
        return [f"crop {v // clips + 1}\nclip {v % clips + 1}" for v in range(n)]

    def _display(self, image: Any) -> None:
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            warnings.warn("--show needs matplotlib (pip install matplotlib); not showing, going on", stacklevel=2)
            self.show = False
            return
        plt.figure("kinetix", figsize=(image.width / 100, image.height / 100))
        plt.imshow(image)
        plt.axis("off")
        plt.tight_layout()
        plt.pause(self.wait_time)
        plt.clf()


class ValidationPictures(Hook):
    """Pictures of every ``interval``-th validation sample, after each validation pass.

    Built by ``default_hooks.visualization=dict(type='VisualizationHook', enable=True,
    interval=N)``, as MMAction2 names it. The pictures go to ``out_dir``, by default
    the run's ``vis_data/vis_image`` folder (where MMAction2's LocalVisBackend puts
    them), named ``<index>_<video>_<epoch>``. The runner calls :meth:`setup` with
    what it knows of the validation set, and passes :meth:`on_batch` to validation.
    """

    def __init__(self, interval: int, show: bool, wait_time: float, out_dir: str | None) -> None:
        self.interval, self.show, self.wait_time, self.out_dir = interval, show, wait_time, out_dir
        self.visualizer: Visualizer | None = None

    def setup(self, run_dir: Path, classes: Sequence[str] | None, rows: int) -> None:
        if get_rank() != 0:  # rank 0 draws its own shard; the others would write the same names
            return
        self.visualizer = Visualizer(self.out_dir or run_dir / "vis_data" / "vis_image", self.show,
                                     self.interval, self.wait_time, classes, rows)

    def on_batch(self, trainer: Any) -> Callable[[dict, torch.Tensor], None] | None:
        if self.visualizer is None:
            return None
        self.visualizer.reset(f"_{trainer.epoch if trainer.by_epoch else trainer.iter}")
        return self.visualizer


@HOOKS.register
def VisualizationHook(enable: bool = False, interval: int = 5000, show: bool = False, wait_time: float = 0.1,
                      out_dir: str | None = None, **ignored: Any) -> ValidationPictures | None:
    """MMAction2's switch for pictures of validation samples; off (``enable=False``) builds nothing."""
    for key in ignored:
        warnings.warn(f"default_hooks.visualization.{key} is not honoured by kinetix; ignored", stacklevel=2)
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ConfigError(f"default_hooks.visualization.interval: expected a positive int, got {interval!r}")
    return ValidationPictures(interval, show, wait_time, out_dir) if enable else None
