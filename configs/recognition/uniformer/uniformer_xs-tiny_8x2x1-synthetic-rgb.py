# UniFormer on the synthetic dataset, small enough for a CPU: one CBlock in each of stages 1-2,
# two and one self-attention blocks in stages 3-4, an eighth of UniFormer-S's width (16-dim
# heads), on one clip of 8 frames (every 2nd frame) at 64x64 (a multiple of the 32x stride).
_base_ = [
    '../../_base_/models/uniformer.py', '../../_base_/datasets/synthetic_video_1x1x8.py',
    '../../_base_/schedules/adamw_cosine_synthetic.py', '../../_base_/default_runtime.py'
]

model = dict(
    backbone=dict(depth=[1, 1, 2, 1], embed_dim=[16, 32, 64, 64], head_dim=16,
                  drop_path_rate=0.1, pretrained=None),
    cls_head=dict(num_classes=8, in_channels=64, dropout_ratio=0.3),
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0]))

train_pipeline = [
    dict(type='PyAVInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=2, num_clips=1),
    dict(type='PyAVDecode'),
    dict(type='MultiScaleCrop', input_size=64, scales=(1, 0.875, 0.75), random_crop=False,
         max_wh_scale_gap=1),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='PyAVInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=2, num_clips=1, test_mode=True),
    dict(type='PyAVDecode'),
    dict(type='Resize', scale=(64, 64), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# Transformers prefer a smaller step and stronger decay than the base schedule's.
optim_wrapper = dict(optimizer=dict(lr=0.001, weight_decay=0.05))
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=3, max_keep_ckpts=2))
