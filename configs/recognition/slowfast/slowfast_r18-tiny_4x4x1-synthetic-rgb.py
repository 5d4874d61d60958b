# SlowFast on the synthetic dataset, small enough for a CPU: 3D ResNet-18 pathways, the slow
# one (16 base channels) on 4 of the clip's 16 consecutive frames, the fast one (4 base
# channels) on all 16, at 56x56.
_base_ = [
    '../../_base_/datasets/synthetic_video_1x1x8.py',
    '../../_base_/schedules/adamw_cosine_synthetic.py', '../../_base_/default_runtime.py'
]

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='ResNet3dSlowFast', pretrained=None, resample_rate=4, speed_ratio=4,
        channel_ratio=4,
        slow_pathway=dict(type='resnet3d', depth=18, pretrained=None, lateral=True,
                          base_channels=16, conv1_kernel=(1, 7, 7), conv1_stride_t=1,
                          pool1_stride_t=1, inflate=(0, 0, 1, 1), norm_eval=False,
                          zero_init_residual=False),
        fast_pathway=dict(type='resnet3d', depth=18, pretrained=None, lateral=False,
                          base_channels=4, conv1_kernel=(5, 7, 7), conv1_stride_t=1,
                          pool1_stride_t=1, norm_eval=False, zero_init_residual=False)),
    cls_head=dict(type='SlowFastHead', num_classes=8, in_channels=128 + 32, spatial_type='avg',
                  dropout_ratio=0.3, init_std=0.01, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0], format_shape='NCTHW'))

train_pipeline = [
    dict(type='PyAVInit'),
    dict(type='SampleFrames', clip_len=16, frame_interval=1, num_clips=1),
    dict(type='PyAVDecode'),
    dict(type='MultiScaleCrop', input_size=56, scales=(1, 0.875, 0.75), random_crop=False,
         max_wh_scale_gap=1),
    dict(type='Resize', scale=(56, 56), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='PyAVInit'),
    dict(type='SampleFrames', clip_len=16, frame_interval=1, num_clips=1, test_mode=True),
    dict(type='PyAVDecode'),
    dict(type='Resize', scale=(56, 56), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=3, max_keep_ckpts=2))
