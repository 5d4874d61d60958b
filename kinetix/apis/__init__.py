"""MMAction2's Python API: ``init_recognizer`` and ``inference_recognizer``.

This package sits above ``kinetix.engine`` (it builds models and loads
checkpoints through it); nothing in the engine imports it.
"""

from kinetix.apis.inference import ActionResult, inference_recognizer, init_recognizer

__all__ = ["ActionResult", "inference_recognizer", "init_recognizer"]
