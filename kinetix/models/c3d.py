"""C3D: eight plain 3x3x3 convs, five poolings and two fully connected layers.

"Learning Spatiotemporal Features with 3D Convolutional Networks"
(https://arxiv.org/abs/1412.0767). The backbone ends in ``fc6``/``fc7`` (4096 each),
so its output is a vector and the head needs ``spatial_type=None``. ``out_dim`` is
the flattened size after ``pool5``: 8192 for 16x112x112 clips.
"""

from __future__ import annotations

import torch
from torch import nn

from kinetix.errors import ConfigError
from kinetix.models.layers import ConvModule, constant_init, is_norm, kaiming_init, normal_init
from kinetix.models.pretrained import load_matching_weights, pretrained_path
from kinetix.registry import MODELS

# (name, input channels, output channels) of the convs, each stage followed by a pool.
_STAGES = (
    (("conv1a", 3, 64),),
    (("conv2a", 64, 128),),
    (("conv3a", 128, 256), ("conv3b", 256, 256)),
    (("conv4a", 256, 512), ("conv4b", 512, 512)),
    (("conv5a", 512, 512), ("conv5b", 512, 512)),
)


@MODELS.register
class C3D(nn.Module):
    def __init__(self, pretrained: str | None = None, style: str = "pytorch",
                 conv_cfg: dict | None = None, norm_cfg: dict | None = None,
                 act_cfg: dict | None = None, out_dim: int = 8192, dropout_ratio: float = 0.5,
                 init_std: float = 0.005) -> None:
        super().__init__()
        self.pretrained, self.style = pretrained, style
        self.conv_cfg = conv_cfg if conv_cfg is not None else dict(type="Conv3d")
        self.norm_cfg = norm_cfg
        self.act_cfg = act_cfg if act_cfg is not None else dict(type="ReLU")
        self.dropout_ratio, self.init_std = dropout_ratio, init_std
        self.out_dim = out_dim

        conv = dict(kernel_size=(3, 3, 3), padding=(1, 1, 1), conv_cfg=self.conv_cfg,
                    norm_cfg=self.norm_cfg, act_cfg=self.act_cfg)
        # The first pool keeps time; the last pads space so that 7x7 maps pool to 4x4.
        pools = [nn.MaxPool3d((1, 2, 2), (1, 2, 2))] + \
                [nn.MaxPool3d((2, 2, 2), (2, 2, 2)) for _ in range(3)] + \
                [nn.MaxPool3d((2, 2, 2), (2, 2, 2), padding=(0, 1, 1))]
        for i, (stage, pool) in enumerate(zip(_STAGES, pools)):
            for name, cin, cout in stage:
                self.add_module(name, ConvModule(cin, cout, **conv))
            self.add_module(f"pool{i + 1}", pool)
        self.fc6 = nn.Linear(out_dim, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(p=dropout_ratio)
        self.feat_dim = 4096
        self.init_from_scratch()

    def init_from_scratch(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                kaiming_init(m)
            elif isinstance(m, nn.Linear):
                normal_init(m, std=self.init_std)
            elif is_norm(m):
                constant_init(m, 1.0)

    def init_weights(self) -> None:
        if pretrained_path(self.pretrained) is None:
            return
        load_matching_weights(self, self.pretrained)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, stage in enumerate(_STAGES):
            for name, _, _ in stage:
                x = getattr(self, name)(x)
            x = getattr(self, f"pool{i + 1}")(x)
        x = x.flatten(1)
        if x.shape[1] != self.out_dim:
            raise ConfigError(f"model.backbone.out_dim: {self.out_dim}, but the input gives "
                              f"{x.shape[1]} features after pool5 (8192 for 16x112x112 clips)")
        x = self.dropout(self.relu(self.fc6(x)))
        return self.relu(self.fc7(x))
