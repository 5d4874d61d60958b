# Video Swin on the synthetic dataset, small enough for a CPU: three stages of two blocks (plain
# and shifted windows) from 16 channels (heads 1, 2, 4), 2x4x4 windows, so that the first two
# stages shift in time and space and pad 14x14 tokens to whole windows, on one clip of 8
# frames (every 2nd frame) at 56x56.
_base_ = [
    '../../_base_/datasets/synthetic_video_1x1x8.py',
    '../../_base_/schedules/adamw_cosine_synthetic.py', '../../_base_/default_runtime.py'
]

model = dict(
    type='Recognizer3D',
    backbone=dict(type='SwinTransformer3D',
                  arch=dict(embed_dims=16, depths=[2, 2, 2], num_heads=[1, 2, 4]),
                  pretrained=None, pretrained2d=False, patch_size=(2, 4, 4),
                  window_size=(2, 4, 4), drop_path_rate=0.1, out_indices=(2,)),
    # in_channels = 16 * 2**2
    cls_head=dict(type='I3DHead', num_classes=8, in_channels=64, spatial_type='avg',
                  dropout_ratio=0.3, average_clips='prob'),
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

# Swin's parameter-wise rule: no weight decay on norms and relative position bias tables.
optim_wrapper = dict(
    constructor='SwinOptimWrapperConstructor',
    paramwise_cfg=dict(relative_position_bias_table=dict(decay_mult=0.), norm=dict(decay_mult=0.)))

default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=3, max_keep_ckpts=2))
