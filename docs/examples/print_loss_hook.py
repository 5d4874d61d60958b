"""An example hook for docs/en/config.md, loaded by tsm_synthetic_sgd.py through custom_imports."""

from kinetix.engine import Hook
from kinetix.registry import HOOKS


@HOOKS.register_module()
class PrintLossHook(Hook):
    """Prints the loss every ``interval`` training steps."""

    def __init__(self, interval: int = 10) -> None:
        self.interval = interval
        self.steps = 0

    def after_step(self, trainer, outputs: dict) -> None:
        self.steps += 1
        if self.steps % self.interval == 0:
            print(f"PrintLossHook: step {self.steps}, loss {float(outputs['loss']):.4f}")
