"""State-dict names and shapes match MMAction2's, and pretrained 2D weights load."""

from __future__ import annotations

import hashlib
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

import kinetix.models  # noqa: F401
from kinetix.errors import CheckpointError, ConfigError
from kinetix.models import ResNet, ResNet3d, ResNetTSM
from kinetix.registry import MODELS, build
from kinetix.utils import download

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "utils"))
from http_files import serve  # noqa: E402  (the test HTTP server)

I3D_BACKBONE = dict(type="ResNet3d", pretrained2d=True, pretrained=None, depth=50,
                    conv1_kernel=(5, 7, 7), conv1_stride_t=2, pool1_stride_t=2,
                    conv_cfg=dict(type="Conv3d"), norm_eval=False,
                    inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0)),
                    zero_init_residual=False)


def _recognizer(kind: str, backbone: dict, head: str) -> torch.nn.Module:
    cfg = dict(type=kind, backbone=backbone,
               cls_head=dict(type=head, num_classes=400, in_channels=2048))
    return build(cfg, MODELS, "model")


def _shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# torchvision resnet50 has 25,557,032 parameters; its fc is 2048*1000 + 1000 = 2,049,000.
R50_BACKBONE_PARAMS = 25_557_032 - 2_049_000
# torchvision resnet50's state dict has 320 entries; 318 without fc.weight / fc.bias.
R50_BACKBONE_KEYS = 318


def test_tsn_r50_keys() -> None:
    shapes = _shapes(_recognizer("Recognizer2D", dict(type="ResNet", depth=50), "TSNHead"))
    expected = {
        "backbone.conv1.conv.weight": (64, 3, 7, 7),
        "backbone.conv1.bn.weight": (64,),
        "backbone.conv1.bn.running_mean": (64,),
        "backbone.conv1.bn.num_batches_tracked": (),
        "backbone.layer1.0.conv1.conv.weight": (64, 64, 1, 1),
        "backbone.layer1.0.conv2.conv.weight": (64, 64, 3, 3),
        "backbone.layer1.0.conv3.conv.weight": (256, 64, 1, 1),
        "backbone.layer1.0.downsample.conv.weight": (256, 64, 1, 1),
        "backbone.layer1.0.downsample.bn.running_var": (256,),
        "backbone.layer3.5.conv2.conv.weight": (256, 256, 3, 3),
        "backbone.layer4.0.downsample.conv.weight": (2048, 1024, 1, 1),
        "backbone.layer4.2.conv3.bn.weight": (2048,),
        "cls_head.fc_cls.weight": (400, 2048),
        "cls_head.fc_cls.bias": (400,),
    }
    assert {k: shapes.get(k) for k in expected} == expected
    assert len([k for k in shapes if k.startswith("backbone.")]) == R50_BACKBONE_KEYS
    assert set(shapes) == {k for k in shapes if k.startswith(("backbone.", "cls_head.fc_cls."))}


def test_resnet50_parameter_count() -> None:
    assert R50_BACKBONE_PARAMS == 23_508_032
    assert _n_params(ResNet(depth=50)) == R50_BACKBONE_PARAMS


def test_tsm_r50_keys() -> None:
    model = _recognizer("Recognizer2D", dict(type="ResNetTSM", depth=50), "TSMHead")
    shapes = _shapes(model)
    assert shapes["backbone.layer1.0.conv1.conv.net.weight"] == (64, 64, 1, 1)
    assert shapes["backbone.layer4.2.conv1.conv.net.weight"] == (512, 2048, 1, 1)
    assert shapes["backbone.layer1.0.conv2.conv.weight"] == (64, 64, 3, 3)
    assert shapes["backbone.layer1.0.downsample.conv.weight"] == (256, 64, 1, 1)
    assert shapes["cls_head.fc_cls.weight"] == (400, 2048)
    # blockres shifts every block's conv1 and nothing else; the shift has no parameters.
    shifted = [k for k in shapes if ".net." in k]
    assert len(shifted) == 16 and all(re.search(r"\.conv1\.conv\.net\.weight$", k) for k in shifted)
    assert _n_params(model.backbone) == R50_BACKBONE_PARAMS


def test_tsm_r101_shifts_every_other_block_and_block_place() -> None:
    names = set(ResNetTSM(depth=101, base_channels=8).state_dict())
    assert "layer3.0.conv1.conv.net.weight" in names
    assert "layer3.1.conv1.conv.weight" in names  # 23-block stage: every other block
    names = set(ResNetTSM(depth=18, base_channels=8, shift_place="block",
                          temporal_pool=True).state_dict())
    assert "layer1.0.net.conv1.conv.weight" in names
    assert "layer2.net.0.net.conv1.conv.weight" in names


def test_i3d_r50_keys() -> None:
    model = _recognizer("Recognizer3D", I3D_BACKBONE, "I3DHead")
    shapes = _shapes(model)
    expected = {
        "backbone.conv1.conv.weight": (64, 3, 5, 7, 7),
        "backbone.layer1.0.conv1.conv.weight": (64, 64, 3, 1, 1),
        "backbone.layer1.0.conv2.conv.weight": (64, 64, 1, 3, 3),
        "backbone.layer1.0.downsample.conv.weight": (256, 64, 1, 1, 1),
        "backbone.layer2.0.conv1.conv.weight": (128, 256, 3, 1, 1),
        "backbone.layer2.1.conv1.conv.weight": (128, 512, 1, 1, 1),
        "backbone.layer3.4.conv1.conv.weight": (256, 1024, 3, 1, 1),
        "backbone.layer4.0.conv1.conv.weight": (512, 1024, 1, 1, 1),
        "backbone.layer4.1.conv1.conv.weight": (512, 2048, 3, 1, 1),
        "backbone.layer4.2.conv3.bn.running_mean": (2048,),
        "cls_head.fc_cls.weight": (400, 2048),
    }
    assert {k: shapes.get(k) for k in expected} == expected
    assert len([k for k in shapes if k.startswith("backbone.")]) == R50_BACKBONE_KEYS
    # MMAction2's model zoo lists I3D R50 (400 classes) at 28.04M parameters.
    assert _n_params(model) == 28_043_472


def test_resnet3d_inflate_must_match_blocks() -> None:
    with pytest.raises(ConfigError, match=r"model.backbone.inflate: stage 1 has 4 blocks"):
        ResNet3d(depth=50, base_channels=8, inflate=(1, (1, 0), 1, 1))


def test_non_local_blocks_sit_where_flagged() -> None:
    # ResNet3d with flags alone builds them (default non_local_cfg); ResNetTSM needs a cfg
    # (tests/models/test_non_local.py). Full key parity: tests/models/test_parity_slowfast.py.
    keys = ResNet3d(depth=18, base_channels=8, non_local=((0, 0), (0, 1), (0, 0), (0, 0))).state_dict()
    blocks = sorted({k.split(".non_local_block")[0] for k in keys if ".non_local_block." in k})
    assert blocks == ["layer2.1"]
    assert "layer2.1.non_local_block.theta.conv.weight" in keys


# ---- train() behaviour ----

def test_norm_eval_keeps_bn_in_eval_mode() -> None:
    model = ResNet(depth=18, base_channels=8, norm_eval=True).train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)
    assert model.training and model.layer1.training
    before = model.conv1.bn.running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(model.conv1.bn.running_mean, before)


def test_frozen_stages() -> None:
    for model in (ResNet(depth=18, base_channels=8, frozen_stages=1),
                  ResNet3d(depth=18, base_channels=8, frozen_stages=1)):
        model.train()
        for name, param in model.named_parameters():
            frozen = name.startswith(("conv1.", "layer1."))
            assert param.requires_grad is not frozen, name
        assert not model.conv1.bn.training and not model.layer1.training
        assert model.layer2.training


def test_partial_bn_freezes_all_but_first_bn() -> None:
    model = ResNet(depth=18, base_channels=8, partial_bn=True).train()
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns[0].training and bns[0].weight.requires_grad
    assert not any(m.training or m.weight.requires_grad for m in bns[1:])


def test_norm_cfg_requires_grad_false() -> None:
    model = ResNet(depth=18, base_channels=8, norm_cfg=dict(type="BN2d", requires_grad=False))
    assert not any(p.requires_grad for n, p in model.named_parameters() if ".bn." in n)


# ---- pretrained weights ----

def test_pretrained_missing_file(tmp_path) -> None:
    model = ResNet3d(depth=18, base_channels=8, pretrained=str(tmp_path / "nope.pth"))
    with pytest.raises(CheckpointError, match="no such file"):
        model.init_weights()


def _torchvision_name(key: str) -> str:
    """Our name -> torchvision's, written independently of the loader's mapping."""
    key = key.replace(".net.", ".")
    key = key.replace("downsample.conv.", "downsample.0.").replace("downsample.bn.", "downsample.1.")
    key = re.sub(r"conv(\d)\.conv\.", r"conv\1.", key)
    key = re.sub(r"conv(\d)\.bn\.", r"bn\1.", key)
    return key


def _torchvision_file(tmp_path, depth: int = 18) -> tuple[str, ResNet]:
    torch.manual_seed(1)
    source = ResNet(depth=depth, base_channels=8)
    with torch.no_grad():
        for name, tensor in source.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) + 0.5)
    state = {_torchvision_name(k): v for k, v in source.state_dict().items()}
    assert "layer1.0.bn1.weight" in state and "conv1.weight" in state and "bn1.running_var" in state
    state["fc.weight"] = torch.zeros(10, 8 * 8)
    state["fc.bias"] = torch.zeros(10)
    path = tmp_path / "resnet_tv.pth"
    torch.save(state, path)
    return str(path), source


def test_load_torchvision_state_dict(tmp_path) -> None:
    path, source = _torchvision_file(tmp_path, depth=50)
    model = ResNet(depth=50, base_channels=8, pretrained=path)
    model.init_weights()
    expected = source.state_dict()
    for key, value in model.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            torch.testing.assert_close(value, expected[key], msg=key)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model.eval()(x), source.eval()(x))


def test_load_mmaction_style_checkpoint(tmp_path, monkeypatch) -> None:
    path, source = _torchvision_file(tmp_path)
    # An MMAction2 file pickles mmengine objects and numpy values next to the tensors;
    # they must be skipped without being imported (the module is gone when we load).
    fake = types.ModuleType("fake_mmengine")

    class MessageHub:
        def __init__(self) -> None:
            self.log = {"loss": np.float64(0.5)}

    MessageHub.__module__ = "fake_mmengine"
    MessageHub.__qualname__ = "MessageHub"
    fake.MessageHub = MessageHub
    monkeypatch.setitem(sys.modules, "fake_mmengine", fake)
    mm = {"meta": {"epoch": 3, "seed": np.int64(7)}, "message_hub": MessageHub(),
          "state_dict": {f"backbone.{k}": v for k, v in source.state_dict().items()}}
    mm["state_dict"]["cls_head.fc_cls.weight"] = torch.zeros(4, 64)
    torch.save(mm, tmp_path / "tsn.pth")
    monkeypatch.delitem(sys.modules, "fake_mmengine")
    model = ResNet(depth=18, base_channels=8, pretrained=str(tmp_path / "tsn.pth"),
                   torchvision_pretrain=False)
    model.init_weights()
    expected = source.state_dict()
    for key, value in model.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            torch.testing.assert_close(value, expected[key], msg=key)


def test_load_2d_weights_into_tsm_and_inflate_into_3d(tmp_path) -> None:
    path, source = _torchvision_file(tmp_path)
    tsm = ResNetTSM(depth=18, base_channels=8, num_segments=2, pretrained=path)
    tsm.init_weights()
    torch.testing.assert_close(tsm.layer1[0].conv1.conv.net.weight, source.layer1[0].conv1.conv.weight)
    torch.testing.assert_close(tsm.layer3[1].conv2.bn.running_var, source.layer3[1].conv2.bn.running_var)

    r3d = ResNet3d(depth=18, base_channels=8, pretrained=path, pretrained2d=True)
    r3d.init_weights()
    # Inflated kernels (repeated over t, divided by t) sum back to the 2D kernel.
    w3d, w2d = r3d.conv1.conv.weight, source.conv1.conv.weight
    assert w3d.shape == (8, 3, 3, 7, 7)
    torch.testing.assert_close(w3d.sum(2), w2d)
    torch.testing.assert_close(r3d.layer2[0].conv1.conv.weight.sum(2),
                               source.layer2[0].conv1.conv.weight)
    torch.testing.assert_close(r3d.layer4[1].conv2.bn.weight, source.layer4[1].conv2.bn.weight)


def test_checkpoint_with_nothing_matching(tmp_path) -> None:
    torch.save({"foo.weight": torch.zeros(3)}, tmp_path / "x.pth")
    model = ResNet(depth=18, base_channels=8, pretrained=str(tmp_path / "x.pth"))
    with pytest.raises(CheckpointError, match="no parameter"):
        model.init_weights()


def test_shape_mismatch_is_skipped_with_a_warning(tmp_path) -> None:
    path, _ = _torchvision_file(tmp_path)
    model = ResNet(depth=18, base_channels=8, in_channels=2, pretrained=path)  # e.g. flow
    with pytest.warns(UserWarning, match=r"not loaded: conv1.weight \(shape"):
        model.init_weights()


# ---- pretrained weights from URLs ----

def _assert_loaded(model: ResNet, source: ResNet) -> None:
    expected = source.state_dict()
    for key, value in model.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            torch.testing.assert_close(value, expected[key], msg=key)


def test_pretrained_torchvision_name_through_a_mirror(tmp_path, monkeypatch) -> None:
    path, source = _torchvision_file(tmp_path)
    data = Path(path).read_bytes()
    # Real torchvision names carry the real file's hash: serve the fake under its own one.
    name = f"resnet18-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    monkeypatch.setitem(download.TORCHVISION_FILES, "resnet18", name)
    monkeypatch.setenv("KINETIX_HOME", str(tmp_path / "home"))
    with serve({f"tv/{name}": data}) as server:
        monkeypatch.setenv("KINETIX_TORCHVISION_URL", server.url("tv"))
        for _ in range(2):
            model = ResNet(depth=18, base_channels=8, pretrained="torchvision://resnet18")  # no download yet
            assert server.count(f"tv/{name}") <= 1
            model.init_weights()
            _assert_loaded(model, source)
        assert server.count(f"tv/{name}") == 1
    assert [p.read_bytes() for p in (tmp_path / "home" / "checkpoints").rglob(name)] == [data]


def test_pretrained_http_url_and_its_errors(tmp_path, monkeypatch) -> None:
    path, source = _torchvision_file(tmp_path)
    monkeypatch.setenv("KINETIX_HOME", str(tmp_path / "home"))
    with serve({"r18.pth": Path(path).read_bytes(), "notes.pth": b"top1 0.7\n"}) as server:
        model = ResNet3d(depth=18, base_channels=8, pretrained=server.url("r18.pth"), pretrained2d=True)
        model.init_weights()
        torch.testing.assert_close(model.conv1.conv.weight.sum(2), source.conv1.conv.weight)
        for name, says in (("missing.pth", "download failed: HTTP 404 Not Found"),
                           ("notes.pth", "not a torch checkpoint (neither a zip archive nor a pickle)")):
            url = server.url(name)
            with pytest.raises(CheckpointError) as info:
                ResNet(depth=18, base_channels=8, pretrained=url).init_weights()
            assert "\n" not in str(info.value)
            assert str(info.value).startswith(f"model.backbone.pretrained: {url}")
            assert str(info.value).endswith(says)
