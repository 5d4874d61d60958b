# TSN with a small ResNeXt-50 (8 groups of 2 channels in stage 1, 16 channels wide at first)
# on the synthetic dataset: the custom-backbone config above at a size the CPU trains in seconds.
_base_ = ['../tsn_r18-tiny_1x1x8-synthetic-rgb.py']

model = dict(
    backbone=dict(
        type='mmcls.ResNeXt', depth=50, stem_channels=16, base_channels=16, groups=8,
        width_per_group=2, out_indices=(3, ), style='pytorch', _delete_=True),
    cls_head=dict(in_channels=512))
