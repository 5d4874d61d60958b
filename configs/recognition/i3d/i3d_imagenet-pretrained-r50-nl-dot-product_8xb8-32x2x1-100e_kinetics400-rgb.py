# I3D R50 with non-local blocks (dot-product attention, half-width embeddings, spatially
# sub-sampled keys) after every other block of stages 2 and 3; otherwise the I3D R50 recipe.
_base_ = ['i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py']

model = dict(
    backbone=dict(
        non_local=((0, 0, 0), (0, 1, 0, 1), (0, 1, 0, 1, 0, 1), (0, 0, 0)),
        non_local_cfg=dict(sub_sample=True, use_scale=False,
                           norm_cfg=dict(type='BN3d', requires_grad=True), mode='dot_product')))
