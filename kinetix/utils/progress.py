"""Progress bars (tqdm) that show only where someone watches: a terminal on stderr.

A bar redraws itself with carriage returns; in a file or a CI log that is
noise, so bars are off unless stderr is a terminal. ``KINETIX_PROGRESS=1``
forces them on and ``KINETIX_PROGRESS=0`` off (tests, or ``script`` sessions).
Other ranks of a distributed run never draw one: rank 0's speaks for all.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Iterable, TextIO

from tqdm import tqdm

from kinetix.dist import get_rank


def progress_enabled(stream: TextIO | None = None) -> bool:
    """True when a bar on ``stream`` (default stderr) would be seen: rank 0 and a terminal."""
    forced = os.environ.get("KINETIX_PROGRESS", "").strip().lower()
    if forced in ("0", "false", "no", "off"):
        return False
    if get_rank() != 0:
        return False
    if forced in ("1", "true", "yes", "on"):
        return True
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def progress_bar(iterable: Iterable[Any] | None = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)`` on stderr, disabled (drawing nothing) when nobody would see it."""
    kwargs.setdefault("file", sys.stderr)
    kwargs.setdefault("dynamic_ncols", True)
    kwargs.setdefault("disable", not progress_enabled(kwargs["file"]))
    return tqdm(iterable, **kwargs)
