"""torchvision's DenseNets as MMAction2's ``torchvision.densenetXXX`` backbones: names, sizes,
weight loading, and what Recognizer2D hands the head."""

from __future__ import annotations

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.errors import CheckpointError, ConfigError
from kinetix.models.recognizers import pool_to_nchw
from kinetix.registry import MODELS, build

# torchvision's published sizes (DenseNetXXX_Weights.IMAGENET1K_V1.meta["num_params"]) and the
# width its classifier takes: the backbone holds everything but that 1000-way Linear.
TORCHVISION = {"densenet121": (7978856, 1024), "densenet161": (28681000, 2208),
               "densenet169": (14149480, 1664), "densenet201": (20013928, 1920)}
# torchvision's (growth_rate, block_config, num_init_features), from its builders.
ARCH_161 = (48, (6, 12, 36, 24), 96)


def _build(arch: str, **kwargs) -> torch.nn.Module:
    return build(dict(type=f"torchvision.{arch}", **kwargs), MODELS, "model.backbone")


@pytest.mark.parametrize("arch", sorted(TORCHVISION))
def test_sizes_match_torchvision_without_its_classifier(arch: str) -> None:
    with torch.device("meta"):
        model = _build(arch)
    total, width = TORCHVISION[arch]
    assert sum(p.numel() for p in model.parameters()) == total - (width * 1000 + 1000)
    assert model.feat_dim == width


def test_state_dict_names_are_torchvisions() -> None:
    with torch.device("meta"):
        names = list(_build("densenet161").state_dict())
    growth, blocks, _ = ARCH_161
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    expected = ["features.conv0.weight"] + [f"features.norm0.{f}" for f in bn]
    for i, layers in enumerate(blocks, 1):
        for j in range(1, layers + 1):
            prefix = f"features.denseblock{i}.denselayer{j}"
            expected += [f"{prefix}.norm1.{f}" for f in bn] + [f"{prefix}.conv1.weight"]
            expected += [f"{prefix}.norm2.{f}" for f in bn] + [f"{prefix}.conv2.weight"]
        if i < len(blocks):
            expected += [f"features.transition{i}.norm.{f}" for f in bn]
            expected += [f"features.transition{i}.conv.weight"]
    expected += [f"features.norm5.{f}" for f in bn]
    assert names == expected


def test_pretrained_file_with_torchvision_s_old_layer_names_loads(tmp_path) -> None:
    torch.manual_seed(0)
    source = _build("densenet121", drop_rate=0.1).state_dict()
    # torchvision's released files say 'denselayer1.norm.1.weight' and keep the classifier.
    old = {k.replace(".norm1.", ".norm.1.").replace(".conv2.", ".conv.2."): v
           for k, v in source.items()}
    assert any(".norm.1." in k for k in old)
    old["classifier.weight"] = torch.zeros(1000, 1024)
    path = tmp_path / "densenet121.pth"
    torch.save(old, path)
    model = _build("densenet121", pretrained=str(path))
    model.init_weights()
    for name, value in model.state_dict().items():
        assert torch.equal(value, source[name]), name


def test_pretrained_true_offline_is_one_line_error_naming_the_key(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("KINETIX_HOME", str(tmp_path))   # nothing cached
    monkeypatch.setenv("KINETIX_TORCHVISION_URL", "http://127.0.0.1:9/models")   # refused
    model = _build("densenet121", pretrained=True)     # building needs no network
    with pytest.raises(CheckpointError) as info:
        model.init_weights()
    message = str(info.value)
    assert message.startswith("model.backbone.pretrained: ") and "\n" not in message
    assert "densenet121-a639ec97.pth" in message


@pytest.mark.parametrize("kwargs, where", [
    (dict(weights="IMAGENET1K_V2"), "model.backbone.weights"),
    (dict(pretrained=True, weights="DEFAULT"), "model.backbone"),
    (dict(drop_rat=0.1), "model.backbone.drop_rat"),
])
def test_bad_settings_are_config_errors(kwargs, where) -> None:
    with pytest.raises(ConfigError, match=f"^{where}"):
        _build("densenet121", **kwargs)


def test_weights_names_torchvision_accepts() -> None:
    for weights in ("DEFAULT", "IMAGENET1K_V1", "DenseNet169_Weights.IMAGENET1K_V1"):
        with torch.device("meta"):
            assert _build("densenet169", weights=weights).pretrained == "torchvision://densenet169"


def test_recognizer_feeds_the_head_pooled_features_without_the_final_relu() -> None:
    torch.manual_seed(0)
    model = build(dict(type="Recognizer2D", backbone=dict(type="torchvision.densenet121"),
                       cls_head=dict(type="TSNHead", num_classes=3, in_channels=1024)),
                  MODELS, "model").eval()
    # Shifted norm5 so that the map has negatives: MMAction2 pools `features` (no ReLU).
    torch.nn.init.constant_(model.backbone.features.norm5.bias, -0.5)
    inputs = torch.randint(0, 256, (1, 2, 3, 64, 64), dtype=torch.uint8)
    with torch.no_grad():
        feats = model({"inputs": inputs}, mode="tensor")
        images = model.data_preprocessor({"inputs": inputs})[0].flatten(0, 1)
        maps = model.backbone.features(images)
        relu_pooled = model.backbone(images)
    assert maps.shape[-1] == 2 and (maps < 0).any()
    assert feats.shape == (2, 1024, 1, 1)
    torch.testing.assert_close(feats, maps.mean((2, 3), keepdim=True))
    assert not torch.allclose(feats.flatten(1), relu_pooled)


def test_pool_to_nchw_layouts() -> None:
    x = torch.randn(2, 5, 3, 4)                           # N, C, H, W
    expected = x.mean((2, 3)).reshape(2, 5, 1, 1)
    torch.testing.assert_close(pool_to_nchw(x), expected)
    torch.testing.assert_close(pool_to_nchw(x.permute(0, 2, 3, 1), "NHWC"), expected)
    tokens = x.flatten(2).transpose(1, 2)                 # N, L, C
    torch.testing.assert_close(pool_to_nchw(tokens), expected)
    assert pool_to_nchw(torch.randn(2, 5)).shape == (2, 5, 1, 1)
    with pytest.raises(ConfigError, match="model.backbone.feature_shape"):
        pool_to_nchw(x, "NTCHW")
