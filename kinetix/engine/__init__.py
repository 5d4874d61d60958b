"""Training and testing. Importing it registers every type a config can name."""

import kinetix.data  # noqa: F401  (datasets, transforms, samplers)
import kinetix.evaluation  # noqa: F401  (metrics)
import kinetix.models  # noqa: F401  (models)
from kinetix.engine import config_check, ema, hooks, optim, schedulers, visualize  # noqa: F401  (registers them)
from kinetix.engine.trainer import Hook, Trainer  # noqa: E402  (for users' custom hooks)

__all__ = ["Hook", "Trainer"]
