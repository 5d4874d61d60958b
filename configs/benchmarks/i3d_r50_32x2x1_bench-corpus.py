# Data-loading benchmark: I3D 32x2x1 (train) and I3D 10 clips x ThreeCrop 256 (test) on the
# corpus of tools/data/make_bench_corpus.py. The pipelines are MMAction2 1.2.0's, from
# i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py. Run from the repository root:
#   python tools/analysis_tools/bench_data.py configs/benchmarks/i3d_r50_32x2x1_bench-corpus.py --split test
# KINETIX_BENCH_CORPUS names another corpus folder (default data/bench_corpus).
data_root = '{{$KINETIX_BENCH_CORPUS:data/bench_corpus}}'
file_client_args = dict(io_backend='disk')

train_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=32, frame_interval=2, num_clips=1),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='MultiScaleCrop', input_size=224, scales=(1, 0.8), random_crop=False,
         max_wh_scale_gap=0),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=32, frame_interval=2, num_clips=10, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='ThreeCrop', crop_size=256),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='VideoDataset', data_root=data_root, ann_file='list.txt',
                 data_prefix=dict(video=''), pipeline=train_pipeline))
test_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='VideoDataset', data_root=data_root, ann_file='list.txt',
                 data_prefix=dict(video=''), pipeline=test_pipeline, test_mode=True))
