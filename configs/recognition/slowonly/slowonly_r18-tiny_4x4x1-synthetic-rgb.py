# SlowOnly on the synthetic dataset, small enough for a CPU: a 3D ResNet-18 (16 base
# channels, temporal kernels in the last two stages) on 4 frames 4 apart, at 56x56.
_base_ = ['../slowfast/slowfast_r18-tiny_4x4x1-synthetic-rgb.py']

model = dict(
    backbone=dict(_delete_=True, type='ResNet3dSlowOnly', depth=18, base_channels=16,
                  pretrained=None, lateral=False, conv1_kernel=(1, 7, 7), conv1_stride_t=1,
                  pool1_stride_t=1, inflate=(0, 0, 1, 1), norm_eval=False,
                  zero_init_residual=False),
    cls_head=dict(type='I3DHead', num_classes=8, in_channels=128, spatial_type='avg',
                  dropout_ratio=0.3, init_std=0.01, average_clips='prob'))

train_pipeline = [
    dict(type='PyAVInit'),
    dict(type='SampleFrames', clip_len=4, frame_interval=4, num_clips=1),
    dict(type='PyAVDecode'),
    dict(type='MultiScaleCrop', input_size=56, scales=(1, 0.875, 0.75), random_crop=False,
         max_wh_scale_gap=1),
    dict(type='Resize', scale=(56, 56), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='PyAVInit'),
    dict(type='SampleFrames', clip_len=4, frame_interval=4, num_clips=1, test_mode=True),
    dict(type='PyAVDecode'),
    dict(type='Resize', scale=(56, 56), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))
