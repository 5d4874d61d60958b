# TSM MobileOne on the synthetic dataset, small enough for a CPU: one block pair per stage,
# 16 to 128 channels, two conv branches per block and SE in the last two stages, on 56x56
# crops of 8 frames. Test the trained checkpoint in the fused form with
# `--cfg-options model.backbone.deploy=True`: its branches are fused as it loads.
_base_ = [
    '../../_base_/datasets/synthetic_video_1x1x8.py',
    '../../_base_/schedules/adamw_cosine_synthetic.py', '../../_base_/default_runtime.py'
]

model = dict(
    type='Recognizer2D',
    backbone=dict(type='MobileOneTSM',
                  arch=dict(num_blocks=[1, 1, 1, 1], width_factor=[0.25, 0.25, 0.25, 0.25],
                            num_conv_branches=[2, 2, 2, 2], num_se_blocks=[0, 0, 1, 1]),
                  num_segments=8, shift_div=4, pretrained2d=False),
    cls_head=dict(type='TSMHead', num_classes=8, in_channels=128, num_segments=8,
                  spatial_type='avg', consensus=dict(type='AvgConsensus', dim=1),
                  dropout_ratio=0.3, init_std=0.01, is_shift=True, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0], format_shape='NCHW'))

default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=3, max_keep_ckpts=2))
