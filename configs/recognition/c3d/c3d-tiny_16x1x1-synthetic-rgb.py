# C3D on the synthetic dataset. C3D's widths are fixed (and its fc6 fixes the input size),
# so it is made CPU-sized by the input instead: one clip of 16 frames at 32x32, which pool5
# leaves at 1x2x2 (out_dim 512 * 2 * 2). Batch norm (which MMAction2's C3D config leaves
# off) lets it train from scratch.
_base_ = [
    '../../_base_/datasets/synthetic_video_1x1x8.py',
    '../../_base_/schedules/adamw_cosine_synthetic.py', '../../_base_/default_runtime.py'
]

model = dict(
    type='Recognizer3D',
    backbone=dict(type='C3D', pretrained=None, style='pytorch', conv_cfg=dict(type='Conv3d'),
                  norm_cfg=dict(type='BN3d'), act_cfg=dict(type='ReLU'), out_dim=512 * 2 * 2,
                  dropout_ratio=0.5, init_std=0.005),
    cls_head=dict(type='I3DHead', num_classes=8, in_channels=4096, spatial_type=None,
                  dropout_ratio=0.3, init_std=0.01, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0], format_shape='NCTHW'))

train_pipeline = [
    dict(type='PyAVInit'),
    dict(type='SampleFrames', clip_len=16, frame_interval=1, num_clips=1),
    dict(type='PyAVDecode'),
    dict(type='MultiScaleCrop', input_size=56, scales=(1, 0.875, 0.75), random_crop=False,
         max_wh_scale_gap=1),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='PyAVInit'),
    dict(type='SampleFrames', clip_len=16, frame_interval=1, num_clips=1, test_mode=True),
    dict(type='PyAVDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=8, dataset=dict(pipeline=test_pipeline))

default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=3, max_keep_ckpts=2))
