# An example for docs/en/visualization.md: the synthetic TSM logging to TensorBoard as well as
# to vis_data/scalars.json.
_base_ = ['../../configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py']

train_cfg = dict(max_epochs=2, val_interval=1)

visualizer = dict(type='ActionVisualizer',
                  vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])
