# TimeSformer (divided space-time attention) on the synthetic dataset, small enough for a
# CPU: 4 blocks of 96 channels (3 heads) over 14x14 patches of one clip of 8 frames (every
# 2nd) at 56x56, 8 x 4 x 4 patch tokens and a class token, trained from scratch (the
# shipped configs start from an ImageNet ViT-B).
_base_ = [
    '../../_base_/datasets/synthetic_video_1x1x8.py',
    '../../_base_/schedules/adamw_cosine_synthetic.py', '../../_base_/default_runtime.py'
]

model = dict(
    type='Recognizer3D',
    backbone=dict(type='TimeSformer', num_frames=8, img_size=56, patch_size=14, pretrained=None,
                  embed_dims=96, num_heads=3, num_transformer_layers=4,
                  attention_type='divided_space_time', norm_cfg=dict(type='LN', eps=1e-6)),
    cls_head=dict(type='TimeSformerHead', num_classes=8, in_channels=96, dropout_ratio=0.3,
                  average_clips='prob'),
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

# Transformers from scratch: a smaller step than the CNNs' and a little weight decay; half
# the CNNs' epochs, to stay within minutes on two CPU cores.
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=0.001, weight_decay=0.05))
max_epochs = 10
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_begin=1, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.0, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True)
]

default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=5, max_keep_ckpts=2))
