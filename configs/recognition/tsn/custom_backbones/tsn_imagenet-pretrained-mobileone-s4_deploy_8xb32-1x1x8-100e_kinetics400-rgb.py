# The TSN MobileOne-S4 config with every block in its fused (deploy) form: one conv each.
# A checkpoint trained with the non-deploy config loads as it is (its branches are fused as
# it loads), and so does one already converted.
_base_ = [
    './tsn_imagenet-pretrained-mobileone-s4_8xb32-1x1x8-100e_kinetics400-rgb.py'  # noqa: E501
]

model = dict(backbone=dict(deploy=True))
