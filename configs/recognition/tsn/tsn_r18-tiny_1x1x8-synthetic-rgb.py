# TSN on the synthetic dataset: the same small ResNet-18 as the TSM config, without the
# temporal shift. TSN averages frames, so it cannot tell a video from its reverse: within
# each of the dataset's 4 class pairs it is at chance.
_base_ = [
    '../../_base_/datasets/synthetic_video_1x1x8.py',
    '../../_base_/schedules/adamw_cosine_synthetic.py', '../../_base_/default_runtime.py'
]

model = dict(
    type='Recognizer2D',
    backbone=dict(type='ResNet', depth=18, base_channels=16, pretrained=None, norm_eval=False),
    cls_head=dict(type='TSNHead', num_classes=8, in_channels=128, spatial_type='avg',
                  consensus=dict(type='AvgConsensus', dim=1), dropout_ratio=0.3,
                  init_std=0.01, average_clips='prob'),
    data_preprocessor=dict(type='ActionDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0], format_shape='NCHW'))

default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=3, max_keep_ckpts=2))
