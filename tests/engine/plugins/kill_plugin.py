"""Loaded through custom_imports by test_exact_resume.py: SIGKILL this process at the point
that the environment variable KINETIX_KILL names, so each run of the harness dies somewhere else.

- ``step:N``     after the N-th training step this process takes;
- ``save:N``     inside this process's N-th checkpoint write: the temporary file is complete,
                 but not yet renamed onto its real name;
- ``pointer:N``  after its N-th checkpoint is in place, before ``last_checkpoint`` names it;
- ``timer:S``    S seconds after training starts, wherever the process is then.
"""

import os
import signal
import threading

from kinetix.engine import Hook
from kinetix.registry import HOOKS

KIND, _, COUNT = os.environ.get("KINETIX_KILL", "").partition(":")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


if KIND in ("save", "pointer"):
    _replace = os.replace
    _seen = [0]

    def _replace_or_die(src, dst, *args, **kwargs):
        name = os.fspath(dst)
        if name.endswith(".pth"):
            _seen[0] += 1
            if KIND == "save" and _seen[0] == int(COUNT):
                _die()
        elif KIND == "pointer" and name.endswith("last_checkpoint") and _seen[0] == int(COUNT):
            _die()
        return _replace(src, dst, *args, **kwargs)

    os.replace = _replace_or_die


@HOOKS.register_module()
class KillHook(Hook):
    def __init__(self) -> None:
        self.steps = 0

    def before_train(self, trainer) -> None:
        if KIND == "timer":
            timer = threading.Timer(float(COUNT), _die)
            timer.daemon = True  # a run that ends first is not held up by it
            timer.start()

    def after_step(self, trainer, outputs) -> None:
        self.steps += 1
        if KIND == "step" and self.steps == int(COUNT):
            _die()
