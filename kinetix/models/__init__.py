"""Models: backbones, heads, losses, the data preprocessor and recognizers.

Importing this package registers every class in ``kinetix.registry.MODELS``
under its MMAction2 type name.
"""

from kinetix.models.blending import CutmixBlending, MixupBlending
from kinetix.models.heads import (AvgConsensus, BaseHead, I3DHead, TimeSformerHead, TSMHead,
                                   TSNHead)
from kinetix.models.layers import ConvModule
from kinetix.models.losses import BCELossWithLogits, CrossEntropyLoss
from kinetix.models.preprocessor import ActionDataPreprocessor
from kinetix.models.recognizers import BaseRecognizer, Recognizer2D, Recognizer3D
from kinetix.models.resnet import ResNet
from kinetix.models.resnet3d import ResNet3d
from kinetix.models.resnet3d_slowonly import ResNet3dSlowOnly
from kinetix.models.resnet_tsm import ResNetTSM, TemporalShift
from kinetix.models.resnext import ResNeXt
from kinetix.models.trn_head import TRNHead
from kinetix.models.tanet import TAM, TANet
from kinetix.models.tin import ResNetTIN, tin_shift
from kinetix.models.omni import OmniHead, OmniResNet, RecognizerOmni
from kinetix.models.mobilenet_v2 import MobileNetV2, MobileNetV2TSM
from kinetix.models.mobileone import MobileOne, MobileOneTSM
from kinetix.models.densenet import DenseNet
from kinetix.models.tpn import TPN, TPNHead
from kinetix.models.slowfast import ResNet3dSlowFast, SlowFastHead
from kinetix.models.csn import ResNet3dCSN
from kinetix.models.r2plus1d import Conv2plus1d, ResNet2Plus1d
from kinetix.models.c3d import C3D
from kinetix.models.c2d import C2D
from kinetix.models.x3d import X3D, X3DHead
from kinetix.models.uniformer import UniFormer, UniFormerHead
from kinetix.models.mvit import MViT, MViTHead
from kinetix.models.uniformerv2 import UniFormerV2
from kinetix.models.swin import SwinTransformer3D
from kinetix.models.timesformer import TimeSformer
from kinetix.models.vit_mae import VisionTransformer
from kinetix.models.timm_swin import TimmSwinTransformer

__all__ = [
    "ActionDataPreprocessor", "AvgConsensus", "BCELossWithLogits", "BaseHead", "BaseRecognizer",
    "ConvModule", "CrossEntropyLoss", "TimeSformerHead", "CutmixBlending", "I3DHead", "MixupBlending",
    "Recognizer2D", "Recognizer3D", "ResNet", "ResNet3d", "ResNetTSM", "ResNeXt", "TSMHead", "TSNHead",
    "TemporalShift",
    "TRNHead", "TAM", "TANet", "ResNetTIN", "tin_shift", "OmniHead", "OmniResNet", "RecognizerOmni", "MobileNetV2", "MobileNetV2TSM",
    "MobileOne", "MobileOneTSM", "DenseNet",
    "TPN", "TPNHead",
    "ResNet3dSlowFast", "ResNet3dSlowOnly", "SlowFastHead",
    "ResNet3dCSN", "Conv2plus1d", "ResNet2Plus1d", "C3D", "C2D", "X3D", "X3DHead",
    "UniFormer", "UniFormerHead",
    "MViT", "MViTHead",
    "UniFormerV2",
    "SwinTransformer3D",
    "TimeSformer", "VisionTransformer", "TimmSwinTransformer",
]
