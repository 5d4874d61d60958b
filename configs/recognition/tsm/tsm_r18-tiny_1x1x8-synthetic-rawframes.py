# The synthetic TSM config, reading JPEG frame folders (RawframeDataset) instead of videos.
_base_ = ['./tsm_r18-tiny_1x1x8-synthetic-rgb.py']

dataset_type = 'RawframeDataset'
data_root = 'data/synthetic/rawframes'

train_pipeline = [
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=8),
    dict(type='RawFrameDecode'),
    dict(type='MultiScaleCrop', input_size=56, scales=(1, 0.875, 0.75), random_crop=False,
         max_wh_scale_gap=1),
    dict(type='Resize', scale=(56, 56), keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]
test_pipeline = [
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=8, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='Resize', scale=(56, 56), keep_ratio=False),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]

ann_file_train = 'data/synthetic/train_list_rawframes.txt'
ann_file_val = 'data/synthetic/val_list_rawframes.txt'
ann_file_test = 'data/synthetic/test_list_rawframes.txt'

# _delete_: the video dataset's keys (data_prefix=dict(video=...)) must not carry over.
train_dataloader = dict(
    dataset=dict(_delete_=True, type=dataset_type, ann_file=ann_file_train,
                 data_prefix=dict(img=data_root), pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(_delete_=True, type=dataset_type, ann_file=ann_file_val,
                 data_prefix=dict(img=data_root), pipeline=test_pipeline, test_mode=True))
test_dataloader = dict(
    dataset=dict(_delete_=True, type=dataset_type, ann_file=ann_file_test,
                 data_prefix=dict(img=data_root), pipeline=test_pipeline, test_mode=True))
