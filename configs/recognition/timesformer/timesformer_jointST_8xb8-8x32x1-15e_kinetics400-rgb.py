# TimeSformer with joint space-time attention (all patches of all frames at once): the
# space-only config otherwise.
_base_ = 'timesformer_spaceOnly_8xb8-8x32x1-15e_kinetics400-rgb.py'

model = dict(backbone=dict(attention_type='joint_space_time'))
