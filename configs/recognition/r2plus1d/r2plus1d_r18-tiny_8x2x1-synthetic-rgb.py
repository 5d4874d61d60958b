# R(2+1)D on the synthetic dataset, small enough for a CPU: a ResNet-18 of (2+1)D convs
# with 16 base channels; stages 2-4 halve time. One clip of 8 frames (every 2nd) at 56x56.
_base_ = [
    '../../_base_/datasets/synthetic_video_1x1x8.py',
    '../../_base_/schedules/adamw_cosine_synthetic.py', '../../_base_/default_runtime.py'
]

model = dict(
    type='Recognizer3D',
    backbone=dict(type='ResNet2Plus1d', depth=18, base_channels=16, pretrained=None,
                  pretrained2d=False, norm_eval=False, conv_cfg=dict(type='Conv2plus1d'),
                  norm_cfg=dict(type='BN3d', requires_grad=True, eps=1e-3),
                  conv1_kernel=(3, 7, 7), conv1_stride_t=1, pool1_stride_t=1,
                  inflate=(1, 1, 1, 1), spatial_strides=(1, 2, 2, 2),
                  temporal_strides=(1, 2, 2, 2), zero_init_residual=False),
    cls_head=dict(type='I3DHead', num_classes=8, in_channels=128, spatial_type='avg',
                  dropout_ratio=0.3, init_std=0.01, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0], format_shape='NCTHW'))

train_pipeline = [
    dict(type='PyAVInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=2, num_clips=1),
    dict(type='PyAVDecode'),
    dict(type='MultiScaleCrop', input_size=56, scales=(1, 0.875, 0.75), random_crop=False,
         max_wh_scale_gap=1),
    dict(type='Resize', scale=(56, 56), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='PyAVInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=2, num_clips=1, test_mode=True),
    dict(type='PyAVDecode'),
    dict(type='Resize', scale=(56, 56), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=3, max_keep_ckpts=2))
