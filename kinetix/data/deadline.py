"""A time limit on one sample's pipeline, so that a video that stalls its decoder
becomes a skipped sample instead of a loader stuck for good.

The limit is a ``SIGALRM`` timer (``signal.setitimer``). It works where samples
are loaded: in the main thread of each DataLoader worker process, and in the
main thread of the training process with ``num_workers=0``. Python runs a
signal handler between bytecodes, so a call blocked inside C code (FFmpeg) is
interrupted when it returns to Python; a blocking system call returns early
with EINTR, since Python installs its handlers without ``SA_RESTART``. A C
loop that never returns is beyond any in-process limit: DataLoader's own
``timeout`` setting covers that.

Elsewhere (another thread, a platform without ``setitimer``) there is no
limit: signal handlers can only be installed from the main thread.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import Any, Iterator

# After the deadline the timer keeps firing at this period, in case the first
# alarm lands inside a C callback that swallows exceptions (PyAV's log hook).
_REPEAT_S = 1.0


class DeadlineExceeded(BaseException):
    """The time limit passed. A BaseException, as KeyboardInterrupt is, so that a
    pipeline step's ``except Exception`` does not swallow it."""


def can_limit_time() -> bool:
    """Whether :func:`time_limit` can enforce a limit here (main thread, POSIX timers)."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`DeadlineExceeded` in the block once ``seconds`` have passed.

    ``None`` means no limit. The previous SIGALRM handler and any timer already
    running (less the time spent here) are put back afterwards.
    """
    if seconds is None or not can_limit_time():
        yield
        return
    armed, fired = [True], [False]

    def on_alarm(signum: int, frame: Any) -> None:
        if armed[0]:
            fired[0] = True
            raise DeadlineExceeded(seconds)

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds, _REPEAT_S)
    try:
        yield
        if fired[0]:  # an alarm whose exception something swallowed: still too late
            raise DeadlineExceeded(seconds)
    finally:
        armed[0] = False  # first: an alarm from here on does nothing
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay > 0:
            left = previous_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), previous_interval)
