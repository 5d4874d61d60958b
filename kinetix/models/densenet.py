"""torchvision's DenseNet-BC (121/161/169/201), as MMAction2's ``torchvision.densenetXXX`` backbones.

MMAction2 builds ``type='torchvision.densenet161'`` as ``torchvision.models.densenet161(**kwargs)``
and swaps the classifier for an identity. Its Recognizer2D then runs only ``backbone.features``
(so *without* the ReLU that torchvision's ``forward`` applies after ``norm5``) and averages the
map to ``(N, C, 1, 1)`` for the head; kinetix's Recognizer2D does the same for a backbone whose
``backbone_from`` is ``'torchvision'``. ``forward`` itself stays torchvision's: ``(N, C)``.
The parameter names are torchvision's (``features.conv0``, ``features.denseblock1.denselayer1.
norm1``, ``features.transition1.conv``, ``features.norm5``), so checkpoints load either way.

torchvision is not imported (its PyPI wheels do not load beside every torch build).
``pretrained=True`` / ``weights='IMAGENET1K_V1'`` name torchvision's ImageNet file; as
everywhere in kinetix, weights are loaded by :meth:`DenseNet.init_weights` (when training),
never while building, so a model builds offline.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch import nn

from kinetix.errors import CheckpointError, ConfigError
from kinetix.models.pretrained import read_state_dict
from kinetix.registry import MODELS

_KEY = "model.backbone"

# torchvision's builders: (growth_rate, block_config, num_init_features)
ARCHS: dict[str, tuple[int, tuple[int, int, int, int], int]] = {
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
    "densenet169": (32, (6, 12, 32, 32), 64),
    "densenet201": (32, (6, 12, 48, 32), 64),
}
# torchvision's own names for its one set of weights (WeightsEnum members, as strings).
_WEIGHT_NAMES = ("DEFAULT", "IMAGENET1K_V1")

# torchvision's released checkpoints predate '.'-free module names: 'denselayer1.norm.1.weight'
# is today's 'denselayer1.norm1.weight' (torchvision renames them the same way as it loads).
_OLD_LAYER_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.\w+)$")


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (to ``bn_size * growth_rate``), BN-ReLU-3x3 conv (to ``growth_rate``),
    on the concatenation of every earlier feature map of the block."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int, drop_rate: float,
                 memory_efficient: bool = False) -> None:
        super().__init__()
        mid = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_channels, mid, kernel_size=1, stride=1, bias=False)
        self.norm2 = nn.BatchNorm2d(mid)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(mid, growth_rate, kernel_size=3, stride=1, padding=1, bias=False)
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def _bottleneck(self, *features: torch.Tensor) -> torch.Tensor:
        return self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        # Memory-efficient mode recomputes the concatenation and bottleneck in the backward
        # pass instead of keeping them (only worth it while gradients flow).
        if self.memory_efficient and any(f.requires_grad for f in features):
            out = cp.checkpoint(self._bottleneck, *features, use_reentrant=False)
        else:
            out = self._bottleneck(*features)
        out = self.conv2(self.relu2(self.norm2(out)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return out


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers, each adding ``growth_rate`` channels to the running stack."""

    def __init__(self, num_layers: int, in_channels: int, bn_size: int, growth_rate: int,
                 drop_rate: float, memory_efficient: bool = False) -> None:
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}",
                            DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size,
                                       drop_rate, memory_efficient))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """Between blocks: BN-ReLU-1x1 conv (halving the channels), 2x2 average pool."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(OrderedDict([
            ("norm", nn.BatchNorm2d(in_channels)),
            ("relu", nn.ReLU(inplace=True)),
            ("conv", nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, bias=False)),
            ("pool", nn.AvgPool2d(kernel_size=2, stride=2)),
        ]))


class DenseNet(nn.Module):
    """torchvision's ``DenseNet`` without its classifier: ``(N, 3, H, W)`` -> ``(N, feat_dim)``."""

    backbone_from = "torchvision"   # how MMAction2's recognizers treat it (see recognizers.py)

    def __init__(self, growth_rate: int = 32, block_config: Sequence[int] = (6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, drop_rate: float = 0.0,
                 num_classes: int = 1000, memory_efficient: bool = False,
                 pretrained: str | None = None, feature_shape: str | None = None) -> None:
        super().__init__()
        self.pretrained = pretrained
        self.feature_shape = feature_shape   # read by Recognizer2D, as MMAction2's recognizer pops it
        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(3, num_init_features, kernel_size=7, stride=2, padding=3,
                                bias=False)),
            ("norm0", nn.BatchNorm2d(num_init_features)),
            ("relu0", nn.ReLU(inplace=True)),
            ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ]))
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}",
                                     DenseBlock(num_layers, channels, bn_size, growth_rate,
                                                drop_rate, memory_efficient))
            channels += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", Transition(channels, channels // 2))
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.feat_dim = channels
        # torchvision builds its classifier here and MMAction2 then replaces it; building (and
        # dropping) it keeps the random stream, so a seed gives torchvision's initial weights.
        nn.Linear(channels, num_classes)
        self.classifier = nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.features(x), inplace=True)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1))

    def init_weights(self) -> None:
        """Load ``pretrained`` (torchvision's ImageNet file, or a local path): a download that
        cannot be made is a one-line CheckpointError naming ``model.backbone.pretrained``."""
        if self.pretrained is None:
            return
        key = f"{_KEY}.pretrained"
        state = {}
        for name, value in read_state_dict(self.pretrained, key).items():
            match = _OLD_LAYER_KEY.match(name)
            state[match.group(1) + match.group(2) if match else name] = value
        # The ImageNet classifier has no place here (MMAction2 drops it too).
        state = {k: v for k, v in state.items() if not k.startswith(("classifier.", "fc."))}
        missing, unexpected = self.load_state_dict(state, strict=False)
        if missing or unexpected:
            names = [f"{k} (missing)" for k in missing] + [f"{k} (unexpected)" for k in unexpected]
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            raise CheckpointError(f"{key}: {self.pretrained!r} does not fit this DenseNet: {shown}")


def _weights_source(arch: str, pretrained: bool | str, weights: str | None) -> str | None:
    """What ``pretrained`` / ``weights`` (torchvision's legacy and current switches) load."""
    if isinstance(pretrained, str):   # a local file or URL: kinetix's extension
        if weights is not None:
            raise ConfigError(f"{_KEY}: give pretrained or weights, not both")
        return pretrained
    if not isinstance(pretrained, bool):
        raise ConfigError(f"{_KEY}.pretrained: expected True, False or a path, got {pretrained!r}")
    if pretrained and weights is not None:
        raise ConfigError(f"{_KEY}: give pretrained=True or weights, not both")
    if weights is None and not pretrained:
        return None
    if weights is not None:
        enum = f"DenseNet{arch[len('densenet'):]}_Weights"
        member = weights[len(enum) + 1:] if weights.startswith(enum + ".") else weights
        if member not in _WEIGHT_NAMES:
            raise ConfigError(f"{_KEY}.weights: torchvision's {arch} has weights "
                              f"{' or '.join(_WEIGHT_NAMES)}, got {weights!r}")
    return f"torchvision://{arch}"


def _builder(arch: str):
    growth_rate, block_config, num_init_features = ARCHS[arch]

    def build(*, weights: str | None = None, progress: bool = True,
              pretrained: bool | str = False, bn_size: int = 4, drop_rate: float = 0.0,
              num_classes: int = 1000, memory_efficient: bool = False,
              feature_shape: str | None = None) -> DenseNet:
        """torchvision's builder of the same name (``progress`` is accepted and unused)."""
        return DenseNet(growth_rate, block_config, num_init_features, bn_size=bn_size,
                        drop_rate=drop_rate, num_classes=num_classes,
                        memory_efficient=memory_efficient,
                        pretrained=_weights_source(arch, pretrained, weights),
                        feature_shape=feature_shape)

    build.__name__ = build.__qualname__ = arch
    return MODELS.register(build, name=f"torchvision.{arch}")


densenet121 = _builder("densenet121")
densenet161 = _builder("densenet161")
densenet169 = _builder("densenet169")
densenet201 = _builder("densenet201")
