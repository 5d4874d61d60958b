# TSM MobileOne-S4 on Kinetics-400 raw videos: 16 segments x 1 frame, 8 GPUs x 8 clips, 50 epochs.
# The _deploy_ config next to it tests the same network with each block's branches fused.
_base_ = [
    '../../_base_/datasets/kinetics400.py',
    '../../_base_/models/tsm_mobileone_s4.py', '../../_base_/schedules/sgd_tsm_50e.py',
    '../../_base_/default_runtime.py'
]

model = dict(cls_head=dict(num_segments=16))

file_client_args = dict(io_backend='disk')

train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=16),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='MultiScaleCrop', input_size=224, scales=(1, 0.875, 0.75, 0.66),
         random_crop=False, max_wh_scale_gap=1, num_fixed_crops=13),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
val_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=16, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=16, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='ThreeCrop', crop_size=256),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(batch_size=8, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, dataset=dict(pipeline=val_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

default_hooks = dict(checkpoint=dict(interval=3, max_keep_ckpts=3))

# MMAction2's schedule for this config: lr 0.02, weight decay 2e-5, a 5-epoch warm-up
# stepped once per epoch, decays at epochs 25 and 45.
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=5),
    dict(type='MultiStepLR', begin=0, end=50, by_epoch=True, milestones=[25, 45], gamma=0.1)
]
optim_wrapper = dict(optimizer=dict(lr=0.02, weight_decay=0.00002))

# Base batch size is 8 GPUs x 16 clips; MMAction2 turns the scaling on in this config.
auto_scale_lr = dict(enable=True, base_batch_size=128)
