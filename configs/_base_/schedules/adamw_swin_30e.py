# Video Swin's recipe: AdamW in mixed precision, 2.5 warm-up epochs then cosine decay over 30;
# the (pretrained) backbone learns at a tenth of the rate, and norms and relative position
# bias tables are not decayed (SwinOptimWrapperConstructor matches these name fragments).
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30, val_begin=1, val_interval=3)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='AmpOptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.02),
    constructor='SwinOptimWrapperConstructor',
    paramwise_cfg=dict(
        absolute_pos_embed=dict(decay_mult=0.),
        relative_position_bias_table=dict(decay_mult=0.),
        norm=dict(decay_mult=0.),
        backbone=dict(lr_mult=0.1)))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2.5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=30, eta_min=0, by_epoch=True, begin=0, end=30)
]
