"""ActionDataPreprocessor and batch blending."""

from __future__ import annotations

import pytest
import torch

import kinetix.models  # noqa: F401
from kinetix.errors import ConfigError
from kinetix.models import ActionDataPreprocessor, CutmixBlending, MixupBlending
from kinetix.registry import MODELS, build

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def test_normalises_uint8_and_has_no_state_dict_keys() -> None:
    pre = ActionDataPreprocessor(mean=MEAN, std=STD, format_shape="NCHW")
    assert list(pre.state_dict()) == []
    inputs = torch.randint(0, 256, (2, 3, 3, 4, 4), dtype=torch.uint8)
    out, labels = pre({"inputs": inputs, "labels": torch.tensor([1, 2])})
    assert out.dtype == torch.float32 and labels.tolist() == [1, 2]
    expected = (inputs.float() - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    torch.testing.assert_close(out, expected)


def test_ncthw_and_to_rgb() -> None:
    pre = ActionDataPreprocessor(mean=[0, 0, 0], std=[1, 2, 4], format_shape="NCTHW", to_rgb=True)
    inputs = torch.ones(1, 2, 3, 2, 2, 2, dtype=torch.uint8) * torch.tensor([4, 8, 16],
                                                                           dtype=torch.uint8).view(3, 1, 1, 1)
    out, labels = pre({"inputs": inputs})
    assert labels is None
    # channels flipped (16, 8, 4), then divided by (1, 2, 4)
    assert out[0, 0, :, 0, 0, 0].tolist() == [16.0, 4.0, 1.0]


def test_layout_mismatch_names_format_shape() -> None:
    pre = ActionDataPreprocessor(format_shape="NCTHW")
    with pytest.raises(ConfigError, match="format_shape: 'NCTHW' expects inputs"):
        pre({"inputs": torch.zeros(1, 2, 3, 4, 4, dtype=torch.uint8)})
    with pytest.raises(ConfigError, match="format_shape"):
        ActionDataPreprocessor(format_shape="NTHWC")


def test_blending_only_in_training() -> None:
    pre = build(dict(type="ActionDataPreprocessor", format_shape="NCHW",
                     blending=dict(type="MixupBlending", num_classes=4, alpha=0.2)),
                MODELS, "model.data_preprocessor")
    assert isinstance(pre.blending, MixupBlending)
    batch = {"inputs": torch.randint(0, 256, (3, 2, 3, 4, 4), dtype=torch.uint8),
             "labels": torch.tensor([0, 1, 3])}
    _, labels = pre(batch, training=False)
    assert labels.tolist() == [0, 1, 3]
    _, labels = pre(batch, training=True)
    assert labels.shape == (3, 4)
    torch.testing.assert_close(labels.sum(1), torch.ones(3))


def test_mixup_and_cutmix_label_mass() -> None:
    torch.manual_seed(0)
    imgs = torch.rand(4, 1, 3, 2, 8, 8)
    labels = torch.tensor([0, 1, 2, 0])
    for blend in (MixupBlending(num_classes=3, alpha=1.0), CutmixBlending(num_classes=3, alpha=1.0)):
        mixed, soft = blend(imgs, labels)
        assert mixed.shape == imgs.shape and soft.shape == (4, 3)
        torch.testing.assert_close(soft.sum(1), torch.ones(4))
    # cutmix pastes pixels: every output pixel equals some input sample's pixel
    mixed, _ = CutmixBlending(num_classes=3, alpha=1.0)(imgs, labels)
    assert all(any(torch.equal(mixed[i, ..., 0, 0], imgs[j, ..., 0, 0]) for j in range(4))
               for i in range(4))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_uint8_batch_runs_on_cuda_model() -> None:
    model = build(dict(type="Recognizer2D",
                       backbone=dict(type="ResNetTSM", depth=18, base_channels=8, num_segments=2),
                       cls_head=dict(type="TSMHead", num_classes=3, in_channels=64, num_segments=2,
                                     average_clips="prob"),
                       data_preprocessor=dict(type="ActionDataPreprocessor", mean=MEAN, std=STD,
                                              blending=dict(type="CutmixBlending", num_classes=3))),
                  MODELS, "model").cuda()
    batch = {"inputs": torch.randint(0, 256, (2, 2, 3, 32, 32), dtype=torch.uint8),
             "labels": torch.tensor([0, 2])}
    losses = model.train()(batch, mode="loss")
    assert losses["loss"].is_cuda
    losses["loss"].backward()
    scores = model.eval()(batch, mode="predict")
    assert scores.is_cuda and scores.shape == (2, 3)


@pytest.mark.parametrize("mean", [MEAN, None])
def test_a_channels_last_batch_view_comes_out_contiguous_and_equal(mean) -> None:
    # Collated batches are views of channels-last memory (collate copies once, in
    # memory order); the preprocessor makes them contiguous in its float pass.
    memory = torch.randint(0, 256, (2, 3, 4, 5, 3), dtype=torch.uint8)  # N, crops*clips, H, W, C
    view = memory.permute(0, 1, 4, 2, 3)
    pre = ActionDataPreprocessor(mean=mean, std=STD if mean else None, format_shape="NCHW")
    out, _ = pre({"inputs": view})
    expected, _ = pre({"inputs": view.contiguous()})
    assert out.is_contiguous() and torch.equal(out, expected)


def _random_batch_augment_preprocessor(probs) -> ActionDataPreprocessor:
    return build(dict(type="ActionDataPreprocessor", format_shape="NCTHW",
                      blending=dict(type="RandomBatchAugment", probs=probs,
                                    augments=[dict(type="MixupBlending", alpha=0.8, num_classes=5),
                                              dict(type="CutmixBlending", alpha=1, num_classes=5)])),
                 MODELS, "model.data_preprocessor")


def test_random_batch_augment_picks_by_probs() -> None:
    import numpy as np

    from kinetix.models.blending import RandomBatchAugment

    pre = _random_batch_augment_preprocessor([0.5, 0.3])
    aug = pre.blending
    assert isinstance(aug, RandomBatchAugment) and aug.num_classes == 5
    assert isinstance(aug.augments[0], MixupBlending) and isinstance(aug.augments[1], CutmixBlending)
    assert aug.augments[2] is None and aug.probs == pytest.approx([0.5, 0.3, 0.2])
    inputs = torch.randint(0, 256, (4, 1, 3, 2, 8, 8), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 2, 3])
    picks = []
    for seed in range(200):
        np.random.seed(seed)
        expected = np.random.choice(3, p=[0.5, 0.3, 0.2])
        np.random.seed(seed)
        torch.manual_seed(seed)
        out, soft = pre({"inputs": inputs, "labels": labels}, training=True)
        assert soft.shape == (4, 5) and torch.allclose(soft.sum(1), torch.ones(4))
        if expected == 2:  # the leftover: no blending, one-hot labels
            assert torch.equal(out, inputs.float()) and torch.equal(soft, torch.eye(5)[:4])
        elif expected == 0:  # mixup: the same as MixupBlending under the same torch seed
            torch.manual_seed(seed)
            mixed, mixed_soft = aug.augments[0](inputs.float(), labels)
            torch.testing.assert_close(out, mixed)
            torch.testing.assert_close(soft, mixed_soft)
        picks.append(int(expected))
    assert set(picks) == {0, 1, 2}


def test_random_batch_augment_bad_probs() -> None:
    with pytest.raises(ConfigError, match="probs has 1 values for 2 augments"):
        _random_batch_augment_preprocessor([0.5])
    with pytest.raises(ConfigError, match="sum to at most 1"):
        _random_batch_augment_preprocessor([0.7, 0.6])
    even = _random_batch_augment_preprocessor(None).blending
    assert even.probs is None and len(even.augments) == 2
