"""time_limit: a SIGALRM deadline that leaves the process's own handler and timer as they were."""

import signal
import threading
import time

import pytest

from kinetix.data.deadline import DeadlineExceeded, can_limit_time, time_limit


def test_a_slow_block_is_stopped_and_a_quick_one_is_not():
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        with time_limit(0.2):
            time.sleep(5)  # a blocking call: interrupted, not waited out
    assert time.monotonic() - started < 2
    with time_limit(0.2):
        time.sleep(0.01)
    time.sleep(0.3)  # the timer is off: no late alarm
    with time_limit(None):  # no limit at all
        time.sleep(0.01)


def test_except_exception_does_not_swallow_the_deadline():
    with pytest.raises(DeadlineExceeded):
        with time_limit(0.1):
            try:
                time.sleep(5)
            except Exception:  # noqa: BLE001 - what a careless pipeline step does
                pass


def test_a_swallowed_alarm_still_counts():
    with pytest.raises(DeadlineExceeded):
        with time_limit(0.1):
            try:
                time.sleep(5)
            except BaseException:  # noqa: BLE001 - e.g. an alarm inside a C callback that prints and goes on
                pass


def test_previous_handler_and_timer_are_put_back():
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.4)
        with time_limit(5):
            time.sleep(0.1)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0.1 < left < 0.35  # still running, less the time spent inside
        time.sleep(0.5)
        assert fired == [1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_off_the_main_thread_there_is_no_limit():
    seen = {}

    def body():
        seen["can"] = can_limit_time()
        with time_limit(0.05):
            time.sleep(0.2)
        seen["finished"] = True

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == {"can": False, "finished": True}
