# OmniSource SlowOnly R50 (RecognizerOmni): one network trained jointly on ImageNet images
# and Kinetics-400 clips. kinetix tests and fine-tunes it on videos, but has no joint
# image+video training: MMAction2's MultiLoaderEpochBasedTrainLoop with mmcls' ImageNet
# dataset is not here, so this config has no train part (like MMAction2's X3D configs).
_base_ = ['../../_base_/default_runtime.py']

model = dict(
    type='RecognizerOmni',
    backbone=dict(type='OmniResNet'),
    cls_head=dict(
        type='OmniHead',
        image_classes=1000,
        video_classes=400,
        in_channels=2048,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='MIX2d3d'))

dataset_type = 'VideoDataset'
data_root_val = 'data/kinetics400/videos_val'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'

val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=8, num_clips=1, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=8, num_clips=10, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='ThreeCrop', crop_size=256),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, ann_file=ann_file_val,
                 data_prefix=dict(video=data_root_val), pipeline=val_pipeline, test_mode=True))
test_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, ann_file=ann_file_val,
                 data_prefix=dict(video=data_root_val), pipeline=test_pipeline, test_mode=True))

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
