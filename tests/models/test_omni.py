"""RecognizerOmni on images and clips: shapes, a two-source loss, the MIX2d3d preprocessor,
and OmniResNet's 2D-checkpoint inflation."""

from __future__ import annotations

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.errors import CheckpointError, ConfigError
from kinetix.models.omni import OmniResNet
from kinetix.registry import MODELS, build

CFG = dict(type="RecognizerOmni",
           backbone=dict(type="OmniResNet", layers=(1, 1, 1, 1), base_channels=8),
           cls_head=dict(type="OmniHead", image_classes=7, video_classes=5, in_channels=256,
                         average_clips="score"),
           data_preprocessor=dict(type="ActionDataPreprocessor", mean=[120.0, 110.0, 100.0],
                                  std=[60.0, 55.0, 50.0], format_shape="MIX2d3d"))


def _model():
    torch.manual_seed(0)
    return build(dict(CFG), MODELS, "model")


def test_two_sources_train_together_with_suffixed_losses() -> None:
    model = _model().train()
    videos = {"inputs": torch.randint(0, 256, (2, 1, 3, 4, 32, 32), dtype=torch.uint8),
              "labels": torch.tensor([0, 4])}
    images = {"inputs": torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8),
              "labels": torch.tensor([6, 1, 2])}
    losses = model([videos, images], mode="loss")
    assert {"loss_cls_0", "loss_cls_1", "top1_acc_0", "top1_acc_1"} <= set(losses)
    torch.testing.assert_close(losses["loss"], losses["loss_cls_0"] + losses["loss_cls_1"])
    losses["loss"].backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    # both classifiers learnt: each saw its own source
    assert grads["cls_head.fc2d.4.weight"].abs().sum() > 0
    assert grads["cls_head.fc3d.6.weight"].abs().sum() > 0


def test_predict_images_and_clips() -> None:
    model = _model().eval()
    with torch.no_grad():
        images = model({"inputs": torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)},
                       mode="predict")
        clips = model({"inputs": torch.randint(0, 256, (2, 3, 3, 4, 32, 32), dtype=torch.uint8)},
                      mode="predict")
        feats = model({"inputs": torch.zeros(2, 3, 32, 32)}, mode="tensor")
    assert images.shape == (3, 7) and clips.shape == (2, 5)
    assert feats.shape == (2, 256, 1, 1)
    with pytest.raises(ConfigError, match="MIX2d3d"):
        model({"inputs": torch.zeros(1, 8, 3, 32, 32)}, mode="predict")


def test_preprocessor_normalises_images_per_channel() -> None:
    model = _model()
    image = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    out, _ = model.data_preprocessor({"inputs": image})
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([-2.0, -2.0, -2.0]))


def test_image_path_is_the_3d_path_summed_over_time() -> None:
    # The 2D path sums the temporal kernels: an image equals the 3D conv's response in the
    # middle of a long static clip (where the temporal padding is out of reach).
    net = OmniResNet(layers=(1, 1, 1, 1), base_channels=8).eval()
    image = torch.randn(1, 3, 32, 32)
    clip = image[:, :, None].expand(1, 3, 9, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net(image), net(clip)[:, :, 4], rtol=1e-4, atol=1e-4)


def test_pretrain_2d_spreads_kernels_over_time(tmp_path) -> None:
    net = OmniResNet(layers=(1, 1, 1, 1), base_channels=8)
    flat = {k: (v[:, :, 0] if v.dim() == 5 else v) for k, v in net.state_dict().items()}
    flat["layer3.0.conv1.weight"] = torch.ones_like(flat["layer3.0.conv1.weight"])
    path = tmp_path / "r50_2d.pth"
    torch.save(flat, path)
    loaded = OmniResNet(layers=(1, 1, 1, 1), base_channels=8, pretrain_2d=str(path))
    loaded.init_weights()
    assert torch.allclose(loaded.layer3[0].conv1.weight, torch.full((), 1 / 3))
    torch.testing.assert_close(loaded.layer1[0].bn2.running_var, flat["layer1.0.bn2.running_var"])
    flat["conv1.weight"] = torch.zeros(1, 1, 1, 1)
    torch.save(flat, path)
    with pytest.raises(CheckpointError, match="conv1.weight"):
        OmniResNet(layers=(1, 1, 1, 1), base_channels=8, pretrain_2d=str(path)).init_weights()
