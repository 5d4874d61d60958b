# An example of a config built on another (docs/en/config.md): the synthetic TSM with SGD,
# a loss-printing hook and 2 epochs.
_base_ = ['../../configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py']

# Dicts merge into the base's dicts key by key; lists and scalars replace.
train_cfg = dict(max_epochs=2, val_interval=1)
train_dataloader = dict(batch_size=8)

# The double-brace reference reads the base value; _delete_=True replaces the base dict instead of merging.
model = dict(cls_head=dict(num_classes={{_base_.model.cls_head.num_classes}}, dropout_ratio=0.5))
optim_wrapper = dict(optimizer=dict(_delete_=True, type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4))

# Your own code, imported on every rank before anything is built.
custom_imports = dict(imports=['docs.examples.print_loss_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='PrintLossHook', interval=16)]
