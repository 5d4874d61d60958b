"""The Trainer on a toy regression: gradient accumulation, iteration-based training, EMA."""

from pathlib import Path

import pytest
import torch
from torch import nn

from kinetix.engine.ema import EMAHook
from kinetix.engine.logs import ScalarWriter
from kinetix.engine.schedulers import LRSchedule
from kinetix.engine.trainer import Hook, Trainer


class Toy(nn.Module):
    """y = w.x + b with a mean-squared loss; no BatchNorm, so batches can be split exactly."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(4, 1)

    def forward(self, batch: dict, mode: str = "loss") -> dict:
        error = self.fc(batch["inputs"]).squeeze(1) - batch["labels"]
        return {"loss": (error ** 2).mean()}


def batches(count: int, size: int) -> list[dict]:
    gen = torch.Generator().manual_seed(1)
    return [{"inputs": torch.randn(size, 4, generator=gen), "labels": torch.randn(size, generator=gen)}
            for _ in range(count)]


def trainer(loader: list, hooks=(), **kwargs) -> Trainer:
    model = Toy()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    kwargs.setdefault("max_epochs", 1)
    return Trainer(model=model, optimizer=optimizer, train_loader=loader, lr_schedule=LRSchedule([], 1),
                   hooks=list(hooks), device=torch.device("cpu"), work_dir=Path("."), scalars=ScalarWriter(None),
                   **kwargs)


def halves(full: list[dict]) -> list[dict]:
    return [{k: v[i::2] for k, v in b.items()} for b in full for i in (0, 1)]


def test_accumulating_two_half_batches_equals_one_full_batch():
    full = batches(3, 8)
    one = trainer(full)
    one.train()
    two = trainer(halves(full), accumulative_counts=2)
    two.train()
    assert two.iter == 6 and one.iter == 3
    for a, b in zip(one.model.parameters(), two.model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_a_short_last_window_is_averaged_over_its_own_length():
    # 3 iterations with counts 2: the last window holds one batch, so its loss is not halved.
    full = batches(2, 8)
    reference = trainer([full[0], full[0], full[1]], accumulative_counts=1)
    reference.train()
    accumulated = trainer([full[0], full[0], full[1]], accumulative_counts=2)
    accumulated.train()
    single = trainer([full[0], full[1]])
    single.train()  # one step on full[0] (the average of two equal halves), one on full[1]
    for a, b in zip(single.model.parameters(), accumulated.model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
    assert any(not torch.allclose(a, b) for a, b in zip(reference.model.parameters(),
                                                        accumulated.model.parameters()))


class Steps(Hook):
    def __init__(self) -> None:
        self.epochs, self.steps = 0, 0

    def after_step(self, trainer, outputs) -> None:
        self.steps += 1

    def after_epoch(self, trainer) -> None:
        self.epochs += 1


def test_iteration_based_training_stops_mid_epoch():
    counter = Steps()
    run = trainer(batches(4, 2), hooks=[counter], max_epochs=None, max_iters=10)
    run.train()
    assert run.iter == 10 and run.max_epochs == 3
    assert counter.steps == 10 and counter.epochs == 2  # the third epoch stopped after 2 of 4 batches
    with pytest.raises(ValueError, match="exactly one of max_epochs and max_iters"):
        trainer(batches(1, 2), max_epochs=1, max_iters=1)


def test_ema_follows_the_weights_and_is_what_checkpoints_and_validation_see():
    ema = EMAHook(momentum=0.25)
    seen = {}

    class Validation(Hook):
        priority = 80

        def after_epoch(self, trainer) -> None:
            with trainer.evaluation_contexts[0]():
                seen["weight"] = trainer.model.fc.weight.detach().clone()

    run = trainer(batches(3, 4), hooks=[ema, Validation()])
    history = []

    class Record(Hook):
        def after_step(self, trainer, outputs) -> None:
            history.append(trainer.model.fc.weight.detach().clone())

    run.hooks.insert(0, Record())
    run.train()
    expected = history[0]
    for weight in history[1:]:
        expected = expected * 0.75 + weight * 0.25
    torch.testing.assert_close(ema.average["fc.weight"], expected)
    torch.testing.assert_close(seen["weight"], expected)  # validation ran on the average
    assert not torch.equal(run.model.fc.weight, expected)  # and the raw weights came back
    ckpt = run.checkpoint()
    torch.testing.assert_close(ckpt["state_dict"]["fc.weight"], expected)
    assert torch.equal(ckpt["ema_state_dict"]["fc.weight"], run.model.fc.weight.detach())
