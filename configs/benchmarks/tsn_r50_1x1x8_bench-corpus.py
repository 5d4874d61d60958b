# Data-loading benchmark: TSN 1x1x8 (train) and TSN 25 clips x CenterCrop 224 (test) on the
# corpus of tools/data/make_bench_corpus.py. The pipelines are MMAction2 1.2.0's, from
# tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py; the test one keeps its
# 25 clips but takes one centre crop instead of ten. Run from the repository root:
#   python tools/analysis_tools/bench_data.py configs/benchmarks/tsn_r50_1x1x8_bench-corpus.py --split train
# KINETIX_BENCH_CORPUS names another corpus folder (default data/bench_corpus).
data_root = '{{$KINETIX_BENCH_CORPUS:data/bench_corpus}}'
file_client_args = dict(io_backend='disk')

train_pipeline = [
    dict(type='DecordInit', **file_client_args),
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
test_pipeline = [
    dict(type='DecordInit', **file_client_args),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=25, test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='CenterCrop', crop_size=224),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(
    batch_size=32,
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
