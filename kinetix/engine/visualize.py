"""``test.py --show-dir/--show``: a strip of frames per sample with its prediction.

MMAction2's flags assert on a hook that no shipped config defines; here they
work with any config. Frames come straight from the test batch (uint8), so
what is drawn is exactly what the model saw, before normalisation.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

MAX_FRAMES = 8


def frame_strip(inputs: torch.Tensor) -> np.ndarray:
    """One sample's uint8 input as an HxWx3 strip of up to 8 frames of its first view."""
    frames = inputs.cpu()
    if frames.dim() == 5:           # NCTHW: (views, C, T, H, W) -> first view's frames
        frames = frames[0].permute(1, 0, 2, 3)
    frames = frames[: MAX_FRAMES]   # NCHW: (N, C, H, W)
    return torch.cat(list(frames.permute(0, 2, 3, 1)), dim=1).numpy().astype(np.uint8)


class Visualizer:
    def __init__(self, out_dir: str | None, show: bool, interval: int = 1, wait_time: float = 2.0,
                 classes: Sequence[str] | None = None) -> None:
        self.out_dir = Path(out_dir) if out_dir else None
        if self.out_dir:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        self.show = show and self._display_available()
        self.interval = max(1, interval)
        self.wait_time = wait_time
        self.classes = list(classes) if classes else None
        self.seen = 0

    @staticmethod
    def _display_available() -> bool:
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
            warnings.warn("--show: no display available (DISPLAY is not set); not showing, going on",
                          stacklevel=3)
            return False
        return True

    def _name(self, label: int) -> str:
        return self.classes[label] if self.classes and 0 <= label < len(self.classes) else str(label)

    def __call__(self, batch: dict, scores: torch.Tensor) -> None:
        if scores.dim() == 3:  # average_clips=None kept the views: show their mean score
            scores = scores.mean(dim=1)
        for i in range(len(scores)):
            self.seen += 1
            if (self.seen - 1) % self.interval:
                continue
            pred = int(scores[i].argmax())
            label = batch["labels"][i]
            gt = ",".join(self._name(int(c)) for c in label.nonzero().flatten()) if label.dim() else self._name(int(label))
            image = Image.fromarray(frame_strip(batch["inputs"][i]))
            text = f"pred {self._name(pred)} ({float(scores[i][pred]):.2f})  gt {gt}"
            canvas = Image.new("RGB", (image.width, image.height + 14), "white")
            canvas.paste(image, (0, 14))
            ImageDraw.Draw(canvas).text((2, 1), text, fill="black")
            name = Path(batch["filenames"][i]).stem if batch.get("filenames") else str(int(batch["indices"][i]))
            if self.out_dir:
                canvas.save(self.out_dir / f"{int(batch['indices'][i]):06d}_{name}.png")
            if self.show:
                self._display(canvas)

    def _display(self, image: Image.Image) -> None:
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            warnings.warn("--show needs matplotlib; not showing", stacklevel=2)
            self.show = False
            return
        plt.imshow(image)
        plt.axis("off")
        plt.pause(self.wait_time)
        plt.clf()
