"""Loaded through custom_imports by test_soak_bad_videos.py: a pipeline step that stalls on
the videos it names, as a decoder stuck on a bad file would, so the decode timeout must end it."""

import os
import time
from typing import Sequence

from kinetix.registry import TRANSFORMS


@TRANSFORMS.register_module()
class StallOn:
    """Sleeps on each file whose path ends with one of ``names`` (e.g. 'train/a.mp4')."""

    def __init__(self, names: Sequence[str], seconds: float = 600.0) -> None:
        self.names, self.seconds = tuple(os.sep + n for n in names), seconds

    def __call__(self, results: dict) -> dict:
        if results["filename"].endswith(self.names):
            time.sleep(self.seconds)
        return results
