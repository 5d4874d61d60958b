# Video Swin-L (ImageNet-22k weights) on Kinetics-700: the Kinetics-400 recipe on 16 GPUs x 8
# clips, at twice the learning rate.
_base_ = ['swin-large-p244-w877_in22k-pre_8xb8-amp-32x2x1-30e_kinetics400-rgb.py']

model = dict(cls_head=dict(num_classes=700))

data_root = 'data/kinetics700/videos_train'
data_root_val = 'data/kinetics700/videos_val'
ann_file_train = 'data/kinetics700/kinetics700_train_list_videos.txt'
ann_file_val = 'data/kinetics700/kinetics700_val_list_videos.txt'
ann_file_test = 'data/kinetics700/kinetics700_val_list_videos.txt'

train_dataloader = dict(dataset=dict(ann_file=ann_file_train, data_prefix=dict(video=data_root)))
val_dataloader = dict(dataset=dict(ann_file=ann_file_val, data_prefix=dict(video=data_root_val)))
test_dataloader = dict(dataset=dict(ann_file=ann_file_test, data_prefix=dict(video=data_root_val)))

optim_wrapper = dict(optimizer=dict(lr=2e-3))

auto_scale_lr = dict(enable=False, base_batch_size=128)
