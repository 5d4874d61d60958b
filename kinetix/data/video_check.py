"""Decode a whole video to tell whether a run could use it (tools/analysis_tools/check_videos.py).

A module of the package, not of the tool, so that worker processes started
with 'spawn' can import the function they run.
"""

from __future__ import annotations

from kinetix.data.decoding import UndecodableVideoError
from kinetix.data.video_backends import open_video

_CHUNK = 32  # frames asked of the reader at a time: memory stays small on long videos


def check_video(job: tuple[str, str]) -> tuple[str, str | None]:
    """``job`` is (path, backend): (path, None) when every frame decodes, else (path, why)."""
    path, backend = job
    reader = None
    try:
        reader = open_video(path, backend=backend)
        total = reader.total_frames
        if total < 1:
            return path, "no frames"
        for start in range(0, total, _CHUNK):
            reader.get_frames(list(range(start, min(start + _CHUNK, total))))
        return path, None
    except UndecodableVideoError as exc:
        return path, exc.reason
    except Exception as exc:  # noqa: BLE001 - whatever a decoder raises, the video is bad
        return path, " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    finally:
        if reader is not None and hasattr(reader, "close"):
            reader.close()
