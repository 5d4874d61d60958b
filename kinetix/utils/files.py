"""Small file-system helpers shared by checkpoint writing and downloads."""

from __future__ import annotations

import contextlib
import os


def current_umask() -> int:
    """The process umask, read without changing it (``os.umask`` would, briefly, for every thread)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def os_reason(exc: OSError) -> str:
    """``[Errno 28] No space left on device``: the OS's reason without the file name repeated."""
    if exc.errno is not None and exc.strerror:
        return f"[Errno {exc.errno}] {exc.strerror}"
    return str(exc) or type(exc).__name__
