# An example for docs/en/visualization.md: the synthetic TSM drawing every 16th validation
# sample into the run's vis_data/vis_image/ during training.
_base_ = ['../../configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py']

train_cfg = dict(max_epochs=1, val_interval=1)

default_hooks = dict(visualization=dict(type='VisualizationHook', enable=True, interval=16))
