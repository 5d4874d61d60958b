"""SlowOnly: the slow pathway of SlowFast alone (no laterals), with its own defaults.

A 2D stem (``conv1_kernel=(1, 7, 7)``), no temporal pooling, and temporal kernels
only in the last two stages (``inflate=(0, 0, 1, 1)``): early layers see single frames.
"""

from __future__ import annotations

from typing import Sequence

from kinetix.errors import ConfigError
from kinetix.models.slowfast import ResNet3dPathway, check_resnet3d_kwargs
from kinetix.registry import MODELS


@MODELS.register
class ResNet3dSlowOnly(ResNet3dPathway):
    def __init__(self, conv1_kernel: Sequence[int] = (1, 7, 7), conv1_stride_t: int = 1,
                 pool1_stride_t: int = 1, inflate: Sequence[int] = (0, 0, 1, 1),
                 with_pool2: bool = False, lateral: bool = False, **kwargs) -> None:
        if lateral:
            raise ConfigError("model.backbone.lateral: ResNet3dSlowOnly has no other pathway; "
                              "set lateral=False")
        pathway_args = ("lateral_inv", "lateral_norm", "speed_ratio", "channel_ratio",
                        "fusion_kernel", "lateral_infl", "lateral_activate")
        check_resnet3d_kwargs({k: v for k, v in kwargs.items() if k not in pathway_args},
                              "model.backbone")
        super().__init__(conv1_kernel=conv1_kernel, conv1_stride_t=conv1_stride_t,
                         pool1_stride_t=pool1_stride_t, inflate=inflate, with_pool2=with_pool2,
                         lateral=False, **kwargs)
