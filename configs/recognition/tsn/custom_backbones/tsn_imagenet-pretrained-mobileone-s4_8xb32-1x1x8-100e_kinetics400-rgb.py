# TSN with mmpretrain's MobileOne-S4 on Kinetics-400 raw videos: 8 segments x 1 frame,
# 8 GPUs x 16 clips, 100 epochs (the TSN R50 1x1x8 config's pipelines and schedule).
_base_ = ['../tsn_imagenet-pretrained-r50_8xb32-1x1x8-100e_kinetics400-rgb.py']

checkpoint = ('https://download.openmmlab.com/mmclassification/'
              'v0/mobileone/mobileone-s4_8xb32_in1k_20221110-28d888cb.pth')
model = dict(
    backbone=dict(
        type='mmpretrain.MobileOne',
        arch='s4',
        out_indices=(3, ),
        init_cfg=dict(
            type='Pretrained', checkpoint=checkpoint, prefix='backbone'),
        _delete_=True),
    cls_head=dict(in_channels=2048))

train_dataloader = dict(batch_size=16)
val_dataloader = dict(batch_size=16)
