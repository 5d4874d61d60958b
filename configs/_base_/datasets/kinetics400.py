# Kinetics-400 raw videos: paths, loaders and metric shared by the Kinetics recognition configs.
# A config that uses it sets its pipelines and batch size, e.g.
#   train_dataloader = dict(batch_size=16, dataset=dict(pipeline=train_pipeline))
# (a base's dataloaders cannot see the child's pipeline variables, so the child names them).
dataset_type = 'VideoDataset'
data_root = 'data/kinetics400/videos_train'
data_root_val = 'data/kinetics400/videos_val'
ann_file_train = 'data/kinetics400/kinetics400_train_list_videos.txt'
ann_file_val = 'data/kinetics400/kinetics400_val_list_videos.txt'
ann_file_test = 'data/kinetics400/kinetics400_val_list_videos.txt'

train_dataloader = dict(
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, ann_file=ann_file_train, data_prefix=dict(video=data_root)))
val_dataloader = dict(
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, ann_file=ann_file_val, data_prefix=dict(video=data_root_val),
                 test_mode=True))
test_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, ann_file=ann_file_test, data_prefix=dict(video=data_root_val),
                 test_mode=True))

val_evaluator = dict(type='AccMetric')
test_evaluator = val_evaluator
