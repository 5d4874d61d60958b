# TSN with torchvision's DenseNet-161 (ImageNet weights) on Kinetics-400 raw videos: the R50
# recipe with the backbone swapped. `pretrained=True` is torchvision's ImageNet file, downloaded
# by init_weights() when training. The head sees the 2208 channels of `features` (norm5),
# averaged over space, as MMAction2's recognizer feeds it.
_base_ = ['../tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py']

model = dict(
    backbone=dict(
        type='torchvision.densenet161', pretrained=True, _delete_=True),
    cls_head=dict(in_channels=2208))

# Its own training augmentation (RandomResizedCrop); the rest of the data part is the base's.
train_pipeline = [
    dict(type='DecordInit'),
    dict(type='SampleFrames', clip_len=1, frame_interval=1, num_clips=3),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 256)),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackActionInputs')
]

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
