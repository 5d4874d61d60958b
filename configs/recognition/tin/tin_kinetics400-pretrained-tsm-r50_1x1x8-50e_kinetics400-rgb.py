# TIN R50 on Kinetics-400 raw videos, fine-tuned from MMAction2's Kinetics TSM R50
# (load_from): 8 segments x 1 frame, 8 GPUs x 6 clips, 50 epochs.
_base_ = [
    '../../_base_/datasets/kinetics400.py',
    '../../_base_/models/tin_r50.py', '../../_base_/schedules/sgd_tsm_50e.py',
    '../../_base_/default_runtime.py'
]

model = dict(cls_head=dict(is_shift=True))

train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=8),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='MultiScaleCrop', input_size=224, scales=(1, 0.875, 0.75, 0.66),
         random_crop=False, max_wh_scale_gap=1),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=8, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
test_pipeline = val_pipeline

train_dataloader = dict(batch_size=6, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=6, num_workers=2, dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(num_workers=2, dataset=dict(pipeline=test_pipeline))

train_cfg = dict(val_interval=5)

# MMAction2's plain 50-epoch SGD schedule clips gradients at 40 (its TSM one at 20).
optim_wrapper = dict(clip_grad=dict(max_norm=40, norm_type=2))
load_from = 'https://download.openmmlab.com/mmaction/recognition/tsm/tsm_r50_1x1x8_50e_kinetics400_rgb/tsm_r50_1x1x8_50e_kinetics400_rgb_20200607-af7fb746.pth'  # noqa: E501
