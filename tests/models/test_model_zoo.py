"""Every model type, built from MMAction2-style configs at toy size, trains one step and predicts."""

from __future__ import annotations

import copy

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.models.recognizers import BaseRecognizer
from kinetix.registry import MODELS, build

NUM_CLASSES = 5
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
I3D_INFLATE = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))


def _pre(fmt: str, **extra) -> dict:
    return dict(type="ActionDataPreprocessor", mean=MEAN, std=STD, format_shape=fmt, **extra)


def _tsn(backbone: dict, in_channels: int, **head) -> dict:
    return dict(type="Recognizer2D", backbone=backbone,
                cls_head=dict(type="TSNHead", num_classes=NUM_CLASSES, in_channels=in_channels,
                              spatial_type="avg", consensus=dict(type="AvgConsensus", dim=1),
                              dropout_ratio=0.4, init_std=0.01, average_clips="prob", **head),
                data_preprocessor=_pre("NCHW"), train_cfg=None, test_cfg=None)


TPN_TSM = dict(
    type="Recognizer2D",
    backbone=dict(type="ResNetTSM", depth=18, base_channels=8, num_segments=4, out_indices=(2, 3)),
    neck=dict(type="TPN", in_channels=(32, 64), out_channels=32,
              spatial_modulation_cfg=dict(in_channels=(32, 64), out_channels=64),
              temporal_modulation_cfg=dict(downsample_scales=(2, 2)),
              upsample_cfg=dict(scale_factor=(1, 1, 1)),
              downsample_cfg=dict(downsample_scale=(1, 1, 1)),
              level_fusion_cfg=dict(in_channels=(32, 32), mid_channels=(32, 32), out_channels=64,
                                    downsample_scales=((1, 1, 1), (1, 1, 1))),
              aux_head_cfg=dict(out_channels=NUM_CLASSES, loss_weight=0.5)),
    cls_head=dict(type="TPNHead", num_classes=NUM_CLASSES, in_channels=2048, spatial_type="avg",
                  consensus=dict(type="AvgConsensus", dim=1), dropout_ratio=0.5, init_std=0.01,
                  average_clips="prob"),
    data_preprocessor=_pre("NCHW"), train_cfg=None, test_cfg=dict(fcn_test=True))

MOBILEONE_TINY = dict(num_blocks=[1, 1, 1, 1], width_factor=[0.25, 0.25, 0.25, 0.125],
                     num_conv_branches=[2, 1, 1, 1], num_se_blocks=[0, 0, 1, 1])

# name -> (config, training input shape, test input shape, label kind)
ZOO = {
    "tsn_r18": (_tsn(dict(type="ResNet", depth=18, base_channels=8, norm_eval=False, with_cp=True), 64),
                (2, 3, 3, 32, 32), (2, 6, 3, 32, 32), "index"),
    "tsn_r50_partial_bn_caffe": (
        _tsn(dict(type="ResNet", depth=50, base_channels=8, partial_bn=True, style="caffe",
                  frozen_stages=1, pretrained=None), 256),
        (2, 2, 3, 32, 32), (1, 2, 3, 32, 32), "index"),
    "tsn_multiclass_bce": (
        _tsn(dict(type="ResNet", depth=18, base_channels=8), 64,
             loss_cls=dict(type="BCELossWithLogits", loss_weight=1.0), multi_class=True,
             label_smooth_eps=0.1),
        (2, 2, 3, 32, 32), (2, 2, 3, 32, 32), "multi_hot"),
    "tsn_mixup_label_smooth": (
        {**_tsn(dict(type="ResNet", depth=18, base_channels=8), 64, label_smooth_eps=0.1,
                loss_cls=dict(type="CrossEntropyLoss", loss_weight=1.0,
                              class_weight=[1.0, 2.0, 1.0, 1.0, 0.5])),
         "data_preprocessor": _pre("NCHW", blending=dict(type="MixupBlending",
                                                         num_classes=NUM_CLASSES, alpha=0.2))},
        (4, 2, 3, 32, 32), (2, 2, 3, 32, 32), "index"),
    "tsm_r18_blockres": (
        dict(type="Recognizer2D",
             backbone=dict(type="ResNetTSM", depth=18, base_channels=8, num_segments=4,
                           norm_eval=False, shift_div=8),
             cls_head=dict(type="TSMHead", num_classes=NUM_CLASSES, in_channels=64,
                           num_segments=4, spatial_type="avg",
                           consensus=dict(type="AvgConsensus", dim=1), dropout_ratio=0.5,
                           init_std=0.001, is_shift=True, average_clips="prob"),
             data_preprocessor=_pre("NCHW")),
        (2, 4, 3, 32, 32), (2, 8, 3, 32, 32), "index"),
    "tsm_r50_block_temporal_pool": (
        dict(type="Recognizer2D",
             backbone=dict(type="ResNetTSM", depth=50, base_channels=8, num_segments=4,
                           shift_place="block", temporal_pool=True),
             cls_head=dict(type="TSMHead", num_classes=NUM_CLASSES, in_channels=256,
                           num_segments=4, is_shift=True, temporal_pool=True,
                           average_clips="score"),
             data_preprocessor=_pre("NCHW")),
        (2, 4, 3, 32, 32), (2, 4, 3, 32, 32), "index"),
    "i3d_r50": (
        dict(type="Recognizer3D",
             backbone=dict(type="ResNet3d", pretrained2d=True, pretrained=None, depth=50,
                           base_channels=8, conv1_kernel=(5, 7, 7), conv1_stride_t=2,
                           pool1_stride_t=2, conv_cfg=dict(type="Conv3d"), norm_eval=False,
                           inflate=I3D_INFLATE, zero_init_residual=False),
             cls_head=dict(type="I3DHead", num_classes=NUM_CLASSES, in_channels=256,
                           spatial_type="avg", dropout_ratio=0.5, init_std=0.01,
                           average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 8, 32, 32), (2, 3, 3, 8, 32, 32), "index"),
    "r3d18_3x3x3_cutmix_chunked": (
        dict(type="Recognizer3D",
             backbone=dict(type="ResNet3d", depth=18, base_channels=8, inflate_style="3x3x3",
                           conv1_kernel=(3, 7, 7), with_pool2=False, frozen_stages=0,
                           with_cp=True),
             cls_head=dict(type="I3DHead", num_classes=NUM_CLASSES, in_channels=64,
                           average_clips=None),
             data_preprocessor=_pre("NCTHW", blending=dict(type="CutmixBlending",
                                                           num_classes=NUM_CLASSES, alpha=1.0)),
             test_cfg=dict(max_testing_views=2)),
        (2, 2, 3, 4, 32, 32), (2, 3, 3, 4, 32, 32), "index"),
    "trn_r18_multiscale": (
        dict(type="Recognizer2D",
             backbone=dict(type="ResNet", depth=18, base_channels=8, partial_bn=True),
             cls_head=dict(type="TRNHead", num_classes=NUM_CLASSES, in_channels=64,
                           num_segments=4, relation_type="TRNMultiScale", hidden_dim=16,
                           dropout_ratio=0.8, average_clips="prob"),
             data_preprocessor=_pre("NCHW")),
        (2, 4, 3, 32, 32), (2, 8, 3, 32, 32), "index"),
    "trn_r18_relation": (
        dict(type="Recognizer2D", backbone=dict(type="ResNet", depth=18, base_channels=8),
             cls_head=dict(type="TRNHead", num_classes=NUM_CLASSES, in_channels=64,
                           num_segments=3, relation_type="TRN", hidden_dim=16,
                           average_clips="score"),
             data_preprocessor=_pre("NCHW")),
        (2, 3, 3, 32, 32), (1, 6, 3, 32, 32), "index"),
    "tanet_r50_frozen_cp": (
        dict(type="Recognizer2D",
             backbone=dict(type="TANet", depth=50, base_channels=8, num_segments=4,
                           frozen_stages=1, with_cp=True, tam_cfg=dict(beta=2)),
             cls_head=dict(type="TSMHead", num_classes=NUM_CLASSES, in_channels=256,
                           num_segments=4, average_clips="prob"),
             data_preprocessor=_pre("NCHW")),
        (2, 4, 3, 32, 32), (1, 8, 3, 32, 32), "index"),
    # TIN's channel groups need (block input channels / shift_div) divisible by 4.
    "tin_r18": (
        dict(type="Recognizer2D",
             backbone=dict(type="ResNetTIN", depth=18, base_channels=16, num_segments=4,
                           shift_div=4, norm_eval=False, pretrained=None),
             cls_head=dict(type="TSMHead", num_classes=NUM_CLASSES, in_channels=128,
                           num_segments=4, is_shift=True, average_clips="prob"),
             data_preprocessor=_pre("NCHW")),
        (2, 4, 3, 32, 32), (1, 8, 3, 32, 32), "index"),
    # Clips here; images and a mix of sources are in test_omni.py.
    "omni_r50_tiny": (
        dict(type="RecognizerOmni",
             backbone=dict(type="OmniResNet", layers=(1, 1, 1, 1), base_channels=8),
             cls_head=dict(type="OmniHead", image_classes=7, video_classes=NUM_CLASSES,
                           in_channels=256, average_clips="prob"),
             data_preprocessor=_pre("MIX2d3d")),
        (2, 1, 3, 4, 32, 32), (1, 2, 3, 4, 32, 32), "index"),
    "tsm_mobilenet_v2_frozen_cp": (
        dict(type="Recognizer2D",
             backbone=dict(type="MobileNetV2TSM", num_segments=4, shift_div=4, widen_factor=0.25,
                           frozen_stages=2, with_cp=True, pretrained=None),
             cls_head=dict(type="TSMHead", num_classes=NUM_CLASSES, in_channels=1280,
                           num_segments=4, is_shift=True, average_clips="prob"),
             data_preprocessor=_pre("NCHW")),
        (2, 4, 3, 32, 32), (1, 8, 3, 32, 32), "index"),
    "tsn_mobilenet_v2_norm_eval": (
        _tsn(dict(type="MobileNetV2", widen_factor=0.25, norm_eval=True), 1280),
        (2, 2, 3, 32, 32), (1, 2, 3, 32, 32), "index"),
    # MobileOne: one block pair per stage; two conv branches and SE exercise every branch kind.
    "tsn_mobileone_frozen": (
        _tsn(dict(type="MobileOne", arch=MOBILEONE_TINY, frozen_stages=1), 64),
        (2, 2, 3, 32, 32), (1, 2, 3, 32, 32), "index"),
    "tsn_mobileone_mmpretrain_deploy": (
        _tsn(dict(type="mmpretrain.MobileOne", arch=MOBILEONE_TINY, deploy=True, norm_eval=True), 64),
        (2, 2, 3, 32, 32), (1, 2, 3, 32, 32), "index"),
    "tsm_mobileone": (
        dict(type="Recognizer2D",
             backbone=dict(type="MobileOneTSM", arch=MOBILEONE_TINY, num_segments=4, shift_div=4,
                           pretrained2d=False),
             cls_head=dict(type="TSMHead", num_classes=NUM_CLASSES, in_channels=64,
                           num_segments=4, is_shift=True, average_clips="prob"),
             data_preprocessor=_pre("NCHW")),
        (2, 4, 3, 32, 32), (1, 8, 3, 32, 32), "index"),
    # torchvision's DenseNets (MMAction2's `torchvision.` types): fixed widths, so one image per
    # segment at the smallest size that leaves a 1x1 map; dropout and checkpointing in two.
    "tsn_torchvision_densenet121_cp": (
        _tsn(dict(type="torchvision.densenet121", drop_rate=0.2, memory_efficient=True), 1024),
        (1, 2, 3, 32, 32), (1, 2, 3, 32, 32), "index"),
    "tsn_torchvision_densenet161": (
        _tsn(dict(type="torchvision.densenet161", pretrained=False), 2208),
        (1, 2, 3, 32, 32), (1, 2, 3, 32, 32), "index"),
    "tsn_torchvision_densenet169_bn2": (
        _tsn(dict(type="torchvision.densenet169", bn_size=2, feature_shape="NCHW"), 1664),
        (1, 2, 3, 32, 32), (1, 2, 3, 32, 32), "index"),
    "tsn_torchvision_densenet201": (
        _tsn(dict(type="torchvision.densenet201", weights=None), 1920),
        (1, 2, 3, 32, 32), (1, 2, 3, 32, 32), "index"),
    # mmcls's/mmpretrain's ResNeXt under its three names, with the options it has beyond ResNet.
    "tsn_resnext50_deep_stem_avg_down_cp": (
        _tsn(dict(type="mmcls.ResNeXt", depth=50, groups=2, width_per_group=4, stem_channels=8,
                  base_channels=8, deep_stem=True, avg_down=True, with_cp=True,
                  drop_path_rate=0.1), 256),
        (2, 3, 3, 32, 32), (2, 6, 3, 32, 32), "index"),
    "tsn_resnext50_caffe_frozen_norm_eval": (
        _tsn(dict(type="mmpretrain.ResNeXt", depth=50, groups=4, width_per_group=2,
                  stem_channels=8, base_channels=8, style="caffe", frozen_stages=1,
                  norm_eval=True), 256),
        (2, 2, 3, 32, 32), (1, 2, 3, 32, 32), "index"),
    "tsn_resnext50_groups1_three_stages": (
        _tsn(dict(type="ResNeXt", depth=50, groups=1, stem_channels=8, base_channels=8,
                  num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2,)), 128),
        (2, 2, 3, 32, 32), (1, 2, 3, 32, 32), "index"),
    "tpn_tsm_r18_aux_fcn_test": (TPN_TSM, (2, 4, 3, 64, 64), (2, 8, 3, 64, 64), "index"),
    "slowfast_r50": (
        dict(type="Recognizer3D",
             backbone=dict(type="ResNet3dSlowFast", pretrained=None, resample_rate=4,
                           speed_ratio=4, channel_ratio=4,
                           slow_pathway=dict(type="resnet3d", depth=50, pretrained=None,
                                             lateral=True, base_channels=16,
                                             conv1_kernel=(1, 7, 7), conv1_stride_t=1,
                                             pool1_stride_t=1, inflate=(0, 0, 1, 1),
                                             lateral_norm=True, frozen_stages=1),
                           fast_pathway=dict(type="resnet3d", depth=50, pretrained=None,
                                             lateral=False, base_channels=4,
                                             conv1_kernel=(5, 7, 7), conv1_stride_t=1,
                                             pool1_stride_t=1)),
             cls_head=dict(type="SlowFastHead", num_classes=NUM_CLASSES, in_channels=640,
                           spatial_type="avg", dropout_ratio=0.5, average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 8, 32, 32), (1, 2, 3, 8, 32, 32), "index"),
    "slowonly_r50_nl_with_cp": (
        dict(type="Recognizer3D",
             backbone=dict(type="ResNet3dSlowOnly", depth=50, base_channels=8, lateral=False,
                           with_cp=True, non_local=((0, 0, 0), (1, 0, 1, 0),
                                                    (1, 0, 1, 0, 1, 0), (0, 0, 0)),
                           non_local_cfg=dict(sub_sample=True, use_scale=True,
                                              norm_cfg=dict(type="BN3d", requires_grad=True),
                                              mode="embedded_gaussian")),
             cls_head=dict(type="I3DHead", num_classes=NUM_CLASSES, in_channels=256,
                           average_clips="score"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 4, 32, 32), (1, 2, 3, 4, 32, 32), "index"),
    "tsm_r50_nl_dot_product": (
        dict(type="Recognizer2D",
             backbone=dict(type="ResNetTSM", depth=50, base_channels=8, num_segments=4,
                           non_local=((0, 0, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 0, 0)),
                           non_local_cfg=dict(sub_sample=True, use_scale=False, mode="dot_product",
                                              norm_cfg=dict(type="BN3d", requires_grad=True))),
             cls_head=dict(type="TSMHead", num_classes=NUM_CLASSES, in_channels=256,
                           num_segments=4, average_clips="prob"),
             data_preprocessor=_pre("NCHW")),
        (2, 4, 3, 32, 32), (1, 8, 3, 32, 32), "index"),
    "ircsn_r50": (
        dict(type="Recognizer3D",
             backbone=dict(type="ResNet3dCSN", pretrained2d=False, pretrained=None, depth=50,
                           base_channels=8, with_pool2=False, bottleneck_mode="ir",
                           norm_eval=False, zero_init_residual=False),
             cls_head=dict(type="I3DHead", num_classes=NUM_CLASSES, in_channels=256,
                           average_clips="prob"),
             data_preprocessor=_pre("NCTHW"), test_cfg=dict(max_testing_views=2)),
        (2, 1, 3, 8, 32, 32), (2, 2, 3, 8, 32, 32), "index"),
    "ipcsn_r50_bn_frozen": (
        dict(type="Recognizer3D",
             backbone=dict(type="ResNet3dCSN", pretrained2d=False, pretrained=None, depth=50,
                           base_channels=8, with_pool2=False, bottleneck_mode="ip",
                           norm_eval=True, bn_frozen=True, zero_init_residual=False),
             cls_head=dict(type="I3DHead", num_classes=NUM_CLASSES, in_channels=256,
                           average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 8, 32, 32), (1, 2, 3, 8, 32, 32), "index"),
    "r2plus1d_r18": (
        dict(type="Recognizer3D",
             backbone=dict(type="ResNet2Plus1d", depth=18, pretrained=None, pretrained2d=False,
                           base_channels=8, conv_cfg=dict(type="Conv2plus1d"),
                           norm_cfg=dict(type="SyncBN", requires_grad=True, eps=1e-3),
                           inflate=(1, 1, 1, 1), temporal_strides=(1, 2, 2, 2),
                           zero_init_residual=False),
             cls_head=dict(type="I3DHead", num_classes=NUM_CLASSES, in_channels=64,
                           average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 8, 32, 32), (2, 1, 3, 8, 32, 32), "index"),
    "c3d": (
        dict(type="Recognizer3D",
             backbone=dict(type="C3D", pretrained=None, norm_cfg=dict(type="BN3d"),
                           out_dim=512 * 1 * 2 * 2),
             cls_head=dict(type="I3DHead", num_classes=NUM_CLASSES, in_channels=4096,
                           spatial_type=None, average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 16, 32, 32), (1, 2, 3, 16, 32, 32), "index"),
    # TimeSformerHead takes features already pooled to vectors, as C3D's fc7 gives.
    "c3d_timesformer_head": (
        dict(type="Recognizer3D",
             backbone=dict(type="C3D", pretrained=None, out_dim=512 * 1 * 2 * 2),
             cls_head=dict(type="TimeSformerHead", num_classes=NUM_CLASSES, in_channels=4096,
                           dropout_ratio=0.5, average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 16, 32, 32), (1, 2, 3, 16, 32, 32), "index"),
    "c2d_r18": (
        dict(type="Recognizer3D",
             backbone=dict(type="C2D", depth=18, base_channels=8, pretrained=None),
             cls_head=dict(type="I3DHead", num_classes=NUM_CLASSES, in_channels=64,
                           average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 4, 32, 32), (2, 2, 3, 4, 32, 32), "index"),
    "x3d_s": (
        dict(type="Recognizer3D",
             backbone=dict(type="X3D", gamma_w=0.5, gamma_b=1.5, gamma_d=1.0, frozen_stages=1,
                           with_cp=True),
             cls_head=dict(type="X3DHead", num_classes=NUM_CLASSES, in_channels=192,
                           spatial_type="avg", dropout_ratio=0.5, fc1_bias=False,
                           average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 4, 32, 32), (2, 2, 3, 4, 32, 32), "index"),
    "uniformer_drop_path_cp": (
        dict(type="Recognizer3D",
             backbone=dict(type="UniFormer", depth=[1, 1, 1, 1], embed_dim=[8, 16, 16, 32],
                           head_dim=8, drop_path_rate=0.2, with_cp=True),
             cls_head=dict(type="I3DHead", num_classes=NUM_CLASSES, in_channels=32,
                           dropout_ratio=0.0, average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 4, 32, 32), (1, 2, 3, 4, 32, 32), "index"),
    "uniformer_head": (
        dict(type="Recognizer3D",
             backbone=dict(type="UniFormer", depth=[1, 1, 1, 1], embed_dim=[8, 16, 16, 32],
                           head_dim=8),
             # UniFormerHead does not pool: 2 frames at 32 px leave a 1 x 1 x 1 feature map.
             cls_head=dict(type="UniFormerHead", num_classes=NUM_CLASSES, in_channels=32,
                           dropout_ratio=0.5, average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 2, 32, 32), (1, 2, 3, 2, 32, 32), "index"),
    "mvit": (
        dict(type="Recognizer3D",
             backbone=dict(type="MViT", arch=dict(embed_dims=8, num_layers=3, num_heads=1,
                                                  downscale_indices=[1, 2]),
                           spatial_size=32, temporal_size=4, drop_path_rate=0.2, with_cp=True),
             cls_head=dict(type="MViTHead", num_classes=NUM_CLASSES, in_channels=32,
                           label_smooth_eps=0.1, average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 4, 32, 32), (2, 2, 3, 4, 32, 32), "index"),
    "mvit_mean_token": (
        dict(type="Recognizer3D",
             backbone=dict(type="MViT", arch=dict(embed_dims=8, num_layers=3, num_heads=1,
                                                  downscale_indices=[1, 2]),
                           spatial_size=32, temporal_size=4, use_abs_pos_embed=True,
                           dim_mul_in_attention=False, with_cls_token=False,
                           output_cls_token=False),
             cls_head=dict(type="MViTHead", num_classes=NUM_CLASSES, in_channels=32,
                           with_cls_token=False, dropout_ratio=0.0, average_clips="score"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 4, 32, 32), (1, 2, 3, 4, 32, 32), "index"),
    # UniFormerV2 with every optional part on: local MHRA before and after attention,
    # stochastic depth in the blocks and the decoder, temporal downsampling in the stem.
    "uniformerv2_lmhra_droppath": (
        dict(type="Recognizer3D",
             backbone=dict(type="UniFormerV2", input_resolution=32, patch_size=8, width=32,
                           layers=3, heads=2, t_size=4, temporal_downsample=True,
                           no_lmhra=False, double_lmhra=True, return_list=[1, 2], n_layers=2,
                           n_dim=32, n_head=2, mlp_dropout=[0.5, 0.5],
                           backbone_drop_path_rate=0.1, drop_path_rate=0.1,
                           clip_pretrained=False),
             cls_head=dict(type="TimeSformerHead", num_classes=NUM_CLASSES, in_channels=32,
                           dropout_ratio=0.5, average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 4, 32, 32), (2, 2, 3, 4, 32, 32), "index"),
    "swin3d": (
        dict(type="Recognizer3D",
             backbone=dict(type="SwinTransformer3D",
                           arch=dict(embed_dims=8, depths=[2, 2], num_heads=[1, 2]),
                           window_size=(2, 4, 4), drop_path_rate=0.2, with_cp=True,
                           frozen_stages=0, out_indices=(1,)),
             cls_head=dict(type="I3DHead", num_classes=NUM_CLASSES, in_channels=16,
                           average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 4, 32, 32), (2, 2, 3, 4, 32, 32), "index"),
    # timm's 2D Swin under its three names, shrunk through create_model-style overrides: a 2x2
    # window on an 8x8 token map (shifted in stage 0's second block), 8 -> 64 channels.
    **{f"tsn_timm_{variant}": (
        _tsn(dict(type=f"timm.swin_{variant}_patch4_window7_224", img_size=32, window_size=2,
                  embed_dim=8, depths=(2, 1, 1, 1), num_heads=(1, 1, 2, 2), **extra), 64),
        (2, 2, 3, 32, 32), (1, 2, 3, 32, 32), "index")
       for variant, extra in (("tiny", {}), ("small", dict(feature_shape="NHWC")),
                              ("base", dict(drop_path_rate=0.2, attn_drop_rate=0.1)))},
    # VideoMAE's ViT with every option the shipped configs leave off: learned positions,
    # LayerScale, stochastic depth, checkpointed blocks, class-token-style output.
    "videomae_vit": (
        dict(type="Recognizer3D",
             backbone=dict(type="VisionTransformer", img_size=32, patch_size=16, embed_dims=32,
                           depth=2, num_heads=2, num_frames=4, drop_path_rate=0.1,
                           init_values=0.1, use_learnable_pos_emb=True, with_cp=True),
             cls_head=dict(type="TimeSformerHead", num_classes=NUM_CLASSES, in_channels=32,
                           average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 4, 32, 32), (1, 2, 3, 4, 32, 32), "index"),
    "videomae_vit_first_token": (
        dict(type="Recognizer3D",
             backbone=dict(type="VisionTransformer", img_size=32, patch_size=16, embed_dims=32,
                           depth=1, num_heads=2, num_frames=4, use_mean_pooling=False,
                           qkv_bias=False),
             cls_head=dict(type="TimeSformerHead", num_classes=NUM_CLASSES, in_channels=32,
                           average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 4, 32, 32), (1, 2, 3, 4, 32, 32), "index"),
    **{f"timesformer_{kind}": (
        dict(type="Recognizer3D",
             backbone=dict(type="TimeSformer", num_frames=4, img_size=32, patch_size=16,
                           embed_dims=32, num_heads=2, num_transformer_layers=2,
                           attention_type=kind, dropout_ratio=0.1, with_cp=True),
             cls_head=dict(type="TimeSformerHead", num_classes=NUM_CLASSES, in_channels=32,
                           average_clips="prob"),
             data_preprocessor=_pre("NCTHW")),
        (2, 1, 3, 4, 32, 32), (1, 2, 3, 4, 32, 32), "index")
       for kind in ("divided_space_time", "joint_space_time", "space_only")},
    "tsn_random_batch_augment": (
        {**_tsn(dict(type="ResNet", depth=18, base_channels=8), 64),
         "data_preprocessor": _pre("NCHW", blending=dict(
             type="RandomBatchAugment", probs=[0.5, 0.5],
             augments=[dict(type="MixupBlending", alpha=0.8, num_classes=NUM_CLASSES),
                       dict(type="CutmixBlending", alpha=1.0, num_classes=NUM_CLASSES)]))},
        (4, 2, 3, 32, 32), (2, 2, 3, 32, 32), "index"),
}


def _batch(shape: tuple[int, ...], label_kind: str) -> dict:
    b = shape[0]
    inputs = torch.randint(0, 256, shape, dtype=torch.uint8)
    if label_kind == "multi_hot":
        labels = (torch.rand(b, NUM_CLASSES) > 0.5).float()
    else:
        labels = torch.arange(b, dtype=torch.int64) % NUM_CLASSES
    return {"inputs": inputs, "labels": labels, "indices": torch.arange(b),
            "filenames": [f"v{i}.mp4" for i in range(b)], "skipped": []}


@pytest.mark.parametrize("name", sorted(ZOO))
def test_train_step_and_predict(name: str) -> None:
    torch.manual_seed(0)
    cfg, train_shape, test_shape, label_kind = ZOO[name]
    model = build(copy.deepcopy(cfg), MODELS, "model")
    assert isinstance(model, BaseRecognizer)

    model.train()
    losses = model(_batch(train_shape, label_kind), mode="loss")
    assert {"loss", "loss_cls"} <= set(losses)
    assert all(v.dim() == 0 for v in losses.values())
    assert torch.isfinite(losses["loss"])
    if label_kind == "index" and model.data_preprocessor.blending is None:
        assert 0 <= losses["top1_acc"] <= losses["top5_acc"] <= 1
    else:  # soft or multi-hot targets: no accuracy
        assert "top1_acc" not in losses
    losses["loss"].backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    # OmniHead's image classifier (fc2d) sees no clip batch; test_omni.py trains it on images.
    unused = "cls_head.fc2d." if cfg["type"] == "RecognizerOmni" else None
    missing = [n for n, p in trainable if p.grad is None and not (unused and n.startswith(unused))]
    assert not missing, missing
    assert all(torch.isfinite(p.grad).all() for _, p in trainable if p.grad is not None)

    model.eval()
    with torch.no_grad():
        scores = model(_batch(test_shape, label_kind), mode="predict")
        raw = model(_batch(test_shape, label_kind), mode="tensor", stage="head")
        feats = model(_batch(test_shape, label_kind), mode="tensor")
    views = raw.shape[0] // test_shape[0]
    if model.cls_head.average_clips is None:  # MMAction2 keeps the views
        assert scores.shape == (test_shape[0], views, NUM_CLASSES)
    else:
        assert scores.shape == (test_shape[0], NUM_CLASSES)
    assert raw.shape[0] % test_shape[0] == 0 and raw.shape[1] == NUM_CLASSES
    # mode='tensor' gives the backbone's features, one per image (2D) or clip (3D)
    # (a TSM temporal pool halves the frames)
    images = test_shape[0] * test_shape[1] // (2 if getattr(model.backbone, "temporal_pool", False)
                                               else 1)
    # C3D's backbone ends in its fc6/fc7 layers, the ViT-like transformers in a pooled token
    # (UniFormerV2: its decoder's video token): their features are flat vectors.
    flat = cfg["backbone"]["type"] in ("C3D", "TimeSformer", "VisionTransformer", "UniFormerV2")
    feat_dims = 2 if flat else len(test_shape) - 1
    for feat in feats if isinstance(feats, (tuple, list)) else (feats,):
        if isinstance(feat, list):  # MViT's [patch tokens, class token] per scale
            feat = feat[0]
        assert feat.shape[0] == images
        assert feat.dim() == feat_dims
    if model.cls_head.average_clips == "prob":
        torch.testing.assert_close(scores.sum(1), torch.ones(test_shape[0]))


def test_zoo_covers_every_registered_type() -> None:
    used: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("type"), str):
                used.add(value["type"])
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)

    walk([cfg for cfg, *_ in ZOO.values()])
    assert set(MODELS.names()) - used == set()


def test_recognizer_defaults_and_tensor_input() -> None:
    model = build(dict(type="Recognizer3D",
                       backbone=dict(type="ResNet3d", depth=18, base_channels=8),
                       cls_head=dict(type="I3DHead", num_classes=3, in_channels=64)),
                  MODELS, "model")
    # The default preprocessor follows the recognizer's layout and adds no state-dict keys.
    assert model.data_preprocessor.format_shape == "NCTHW"
    assert not [k for k in model.state_dict() if k.startswith("data_preprocessor")]
    model.eval()
    out = model(torch.zeros(1, 2, 3, 4, 32, 32), mode="predict")
    assert out.shape == (1, 2, 3)  # the head's default average_clips=None keeps the 2 views
    with pytest.raises(ValueError, match="mode"):
        model({"inputs": torch.zeros(1, 1, 3, 4, 32, 32)}, mode="train")


def test_misspelt_backbone_argument_is_a_config_error() -> None:
    from kinetix.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model.backbone.shift_divv: .*did you mean 'shift_div'"):
        build(dict(type="ResNetTSM", depth=18, shift_divv=4), MODELS, "model.backbone")
