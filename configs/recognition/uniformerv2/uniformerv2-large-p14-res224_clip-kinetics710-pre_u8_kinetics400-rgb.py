# UniFormerV2-L/14 (CLIP ViT-L/14: 24 blocks of width 1024, decoder on blocks 20-23),
# pretrained on Kinetics-710 and fine-tuned on Kinetics-400; 8 frames at 224 px. Test only,
# as in MMAction2: its weights were converted from the authors' release.
_base_ = ['../../_base_/models/uniformerv2_base_p16.py', '../../_base_/default_runtime.py']

num_frames = 8
model = dict(
    backbone=dict(
        patch_size=14,
        width=1024,
        layers=24,
        heads=16,
        t_size=num_frames,
        return_list=[20, 21, 22, 23],
        n_dim=1024,
        n_head=16,
        # The fine-tuned checkpoint holds every weight (load it with tools/test.py).
        clip_pretrained=False,
        pretrained=None),
    cls_head=dict(in_channels=1024))

# dataset settings
dataset_type = 'VideoDataset'
data_root_val = 'data/k400'
ann_file_test = 'data/k400/val.csv'

test_pipeline = [
    dict(type='DecordInit'),
    dict(type='UniformSample', clip_len=num_frames, num_clips=4, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 224)),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

test_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root_val),
        pipeline=test_pipeline,
        test_mode=True,
        delimiter=','))

test_evaluator = dict(type='AccMetric')
test_cfg = dict(type='TestLoop')
