# TimeSformer with divided space-time attention (time, then space, in every block): the
# space-only config otherwise.
_base_ = 'timesformer_spaceOnly_8xb8-8x32x1-15e_kinetics400-rgb.py'

model = dict(backbone=dict(attention_type='divided_space_time'))
