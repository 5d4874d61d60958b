"""channels_last and torch.compile (kinetix.engine.speed): same numbers, no graph breaks,
and no recompilation across steps or test-time view counts."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch._dynamo
from torch._dynamo.utils import counters

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.engine.inference import predict
from kinetix.engine.speed import compile_model, compile_options, to_channels_last, use_channels_last
from kinetix.errors import ConfigError
from kinetix.registry import MODELS, build

PRE = dict(type="ActionDataPreprocessor", mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
MODELS_2D_3D = {
    "tsn": dict(type="Recognizer2D", backbone=dict(type="ResNet", depth=18, base_channels=8),
                cls_head=dict(type="TSNHead", num_classes=5, in_channels=64, average_clips="prob"),
                data_preprocessor=dict(PRE, format_shape="NCHW")),
    "tsm": dict(type="Recognizer2D",
                backbone=dict(type="ResNetTSM", depth=18, base_channels=8, num_segments=4),
                cls_head=dict(type="TSMHead", num_classes=5, in_channels=64, num_segments=4,
                              average_clips="prob"),
                data_preprocessor=dict(PRE, format_shape="NCHW")),
    "i3d": dict(type="Recognizer3D",
                backbone=dict(type="ResNet3d", depth=18, base_channels=8, pretrained2d=False,
                              conv1_kernel=(5, 7, 7), inflate=((1, 1), (1, 0), (1, 0), (0, 1))),
                cls_head=dict(type="I3DHead", num_classes=5, in_channels=64, average_clips="prob"),
                data_preprocessor=dict(PRE, format_shape="NCTHW")),
}


def batch(name: str, n: int, views: int = 1) -> dict:
    gen = torch.Generator().manual_seed(n * 10 + views)
    shape = (n, 4 * views, 3, 32, 32) if name != "i3d" else (n, views, 3, 4, 32, 32)
    return {"inputs": torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8),
            "labels": torch.arange(n) % 5}


def test_compile_options_are_checked():
    assert compile_options({}) is None and compile_options({"compile": False}) is None
    assert compile_options({"compile": True}) == {}
    assert compile_options({"compile": {"mode": "max-autotune"}}) == {"mode": "max-autotune"}
    with pytest.raises(ConfigError, match=r"^compile.modee: not a torch.compile option"):
        compile_options({"compile": {"modee": "x"}})
    with pytest.raises(ConfigError, match=r"^compile: expected True, False or a dict"):
        compile_options({"compile": "yes"})
    assert use_channels_last({}, torch.device("cpu")) is False
    assert use_channels_last({}, torch.device("cuda", 0)) is True
    with pytest.raises(ConfigError, match=r"^channels_last: expected True or False"):
        use_channels_last({"channels_last": 1}, torch.device("cpu"))


@pytest.mark.parametrize("name", sorted(MODELS_2D_3D))
def test_channels_last_gives_the_same_scores(name):
    torch.manual_seed(0)
    model = build(copy.deepcopy(MODELS_2D_3D[name]), MODELS, "model").eval()
    before = model(batch(name, 2), mode="predict")
    moved = to_channels_last(model)
    kernels = [p for p in model.parameters() if p.dim() in (4, 5)]
    assert moved == len(kernels) > 0
    for p in kernels:
        fmt = torch.channels_last if p.dim() == 4 else torch.channels_last_3d
        assert p.is_contiguous(memory_format=fmt)
    assert any(not p.is_contiguous() for p in kernels)   # (1x1 kernels are both)
    if name == "i3d":
        assert model.data_preprocessor.memory_format == torch.channels_last_3d
    torch.testing.assert_close(model(batch(name, 2), mode="predict"), before, atol=1e-5, rtol=1e-4)


class Loader(list):
    """Test batches as predict() gets them: full ones, then a short last one."""

    def __init__(self, name: str, sizes: tuple[int, ...], views: int) -> None:
        super().__init__()
        self.batch_size = max(sizes)
        start = 0
        for n in sizes:
            b = batch(name, n, views)
            b["indices"] = torch.arange(start, start + n)
            start += n
            self.append(b)


@pytest.mark.parametrize("name", sorted(MODELS_2D_3D))
def test_compiled_parts_have_no_graph_break_and_compile_once_per_mode(name):
    """Dynamo traces the backbone and head (the eager backend: no code generation, the
    same graphs inductor would get). Training steps of one shape reuse one graph; test
    batches are padded to one size, so a test of any length makes one static graph per
    part, and going back to training compiles nothing."""
    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    model = build(copy.deepcopy(MODELS_2D_3D[name]), MODELS, "model")
    assert compile_model(model, {"backend": "eager"}) == ["backbone", "cls_head"]
    assert not any(k.startswith("_orig_mod") for k in model.state_dict())  # MMAction2's keys
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(3):
        model.train()
        loss = model(batch(name, 2), mode="loss")["loss"]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    assert counters["stats"]["unique_graphs"] == 2     # backbone and head, training mode
    view_counts = (1, 2, 3, 5)
    for views in view_counts:
        # 3 batches, the last one short: one graph per part for the whole test
        before = counters["stats"]["unique_graphs"]
        preds = predict(model, Loader(name, (3, 3, 1), views), torch.device("cpu"), fixed_batch=True)
        assert preds.scores.shape == (7, 5) and list(preds.indices) == list(range(7))
        assert counters["stats"]["unique_graphs"] == before + 2
    preds = predict(model, Loader(name, (3, 1), 2), torch.device("cpu"), fixed_batch=True)
    after_tests = counters["stats"]["unique_graphs"]
    assert after_tests == 2 + 2 * len(view_counts)   # a second test of 2 views reuses its graphs
    model.train()
    model(batch(name, 2), mode="loss")["loss"].backward()
    assert dict(counters["graph_break"]) == {}
    assert counters["stats"]["unique_graphs"] == after_tests   # training reuses its graphs


def test_padding_a_short_test_batch_changes_no_score():
    torch.manual_seed(0)
    model = build(copy.deepcopy(MODELS_2D_3D["tsm"]), MODELS, "model")
    loader = Loader("tsm", (3, 3, 1), 2)
    plain = predict(model, loader, torch.device("cpu"))
    padded = predict(model, loader, torch.device("cpu"), fixed_batch=True)
    np.testing.assert_allclose(padded.scores, plain.scores, rtol=1e-5, atol=1e-6)
