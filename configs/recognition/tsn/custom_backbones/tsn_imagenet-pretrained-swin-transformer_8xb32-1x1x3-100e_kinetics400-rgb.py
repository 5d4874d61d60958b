# TSN with timm's Swin-B (patch 4, window 7, 224 px) on Kinetics-400 raw videos: 3 segments x
# 1 frame, the TSN R50 config's schedule. pretrained=True is timm's ImageNet download, which
# kinetix does not do: set it to a local checkpoint path (or False) to run.
_base_ = ['../tsn_imagenet-pretrained-r50_8xb32-1x1x3-100e_kinetics400-rgb.py']

model = dict(
    backbone=dict(
        type='timm.swin_base_patch4_window7_224',
        pretrained=True,
        feature_shape='NHWC',
        _delete_=True),
    cls_head=dict(in_channels=1024))
