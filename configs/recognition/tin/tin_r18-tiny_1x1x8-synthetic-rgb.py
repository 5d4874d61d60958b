# TIN on the synthetic dataset, small enough for a CPU: a ResNet-18 with 16 base channels
# (TIN's four channel groups need a block's input channels / shift_div divisible by 4)
# on 56x56 crops of 8 frames.
_base_ = [
    '../../_base_/datasets/synthetic_video_1x1x8.py',
    '../../_base_/schedules/adamw_cosine_synthetic.py', '../../_base_/default_runtime.py'
]

model = dict(
    type='Recognizer2D',
    backbone=dict(type='ResNetTIN', depth=18, base_channels=16, pretrained=None,
                  num_segments=8, shift_div=4, norm_eval=False),
    cls_head=dict(type='TSMHead', num_classes=8, in_channels=128, num_segments=8,
                  spatial_type='avg', consensus=dict(type='AvgConsensus', dim=1),
                  dropout_ratio=0.3, init_std=0.01, is_shift=True, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0], format_shape='NCHW'))

default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=3, max_keep_ckpts=2))
