"""LearningRateDecayOptimizerConstructor against MMAction2's, parameter by parameter.

Both sides build the same small recognizers (MViT, and a ViT as VideoMAE uses; kinetix's
parameter names are MMAction2's), freeze the same parameter, build the optimizer from the
same ``optim_wrapper`` and list, for every parameter name, its group's name, lr,
weight decay and lr scale, and the groups in order. Set ``KINETIX_MMACTION2_PYTHON`` to a
python with mmaction2 installed to run it.
"""

import json
import os
import subprocess
import textwrap

import pytest

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.engine.optim import build_optimizer
from kinetix.registry import MODELS, build

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MMACTION2_PYTHON,
                       reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed"),
]

PREPROCESSOR = dict(type="ActionDataPreprocessor", format_shape="NCTHW")
MODELS_CFG = {
    # 5 blocks over 4 scales, with the absolute position embedding (backbone.pos_embed) on.
    "mvit": dict(type="Recognizer3D", data_preprocessor=PREPROCESSOR,
                 backbone=dict(type="MViT", arch=dict(embed_dims=16, num_layers=5, num_heads=1,
                                                      downscale_indices=[1, 3, 4]),
                               spatial_size=64, temporal_size=8, use_abs_pos_embed=True,
                               dim_mul_in_attention=False),
                 cls_head=dict(type="MViTHead", in_channels=128, num_classes=10)),
    "vit": dict(type="Recognizer3D", data_preprocessor=PREPROCESSOR,
                backbone=dict(type="VisionTransformer", img_size=32, patch_size=16, embed_dims=32,
                              depth=3, num_heads=2, num_frames=4, use_learnable_pos_emb=True),
                cls_head=dict(type="TimeSformerHead", in_channels=32, num_classes=10)),
}
FROZEN = "backbone.blocks.1.attn.proj.bias"
# The maskfeat MViT-S config's settings, with this model's depth and with the config's 16.
OPTIM = [dict(optimizer=dict(type="AdamW", lr=9.6e-3, betas=(0.9, 0.999), weight_decay=0.05),
              constructor="LearningRateDecayOptimizerConstructor",
              paramwise_cfg=dict(decay_rate=0.75, decay_type="layer_wise", num_layers=num_layers),
              clip_grad=dict(max_norm=5, norm_type=2))
         for num_layers in (5, 16)]

MMACTION2_SIDE = textwrap.dedent("""
    import json, sys
    from mmengine.optim import build_optim_wrapper
    from mmaction.registry import MODELS
    from mmaction.utils import register_all_modules

    register_all_modules()
    args = json.load(open(sys.argv[1]))
    out = {}
    for name, model_cfg in args["models"].items():
        for i, optim in enumerate(args["optim"]):
            model = MODELS.build(model_cfg)
            model.get_parameter(args["frozen"]).requires_grad_(False)
            optimizer = build_optim_wrapper(model, optim).optimizer
            out[f"{name}/{i}"] = [dict(group_name=g["group_name"], lr=g["lr"], weight_decay=g["weight_decay"],
                                       lr_scale=g["lr_scale"], param_names=g["param_names"])
                                  for g in optimizer.param_groups]
    json.dump(out, open(sys.argv[2], "w"))
""")


def ours() -> dict:
    out = {}
    for name, model_cfg in MODELS_CFG.items():
        for i, optim in enumerate(OPTIM):
            model = build(model_cfg, MODELS, "model")
            model.get_parameter(FROZEN).requires_grad_(False)
            optimizer = build_optimizer(optim, model)
            names = {id(p): n for n, p in model.named_parameters()}
            for g in optimizer.param_groups:  # the names are those of the parameters themselves
                assert g["param_names"] == [names[id(p)] for p in g["params"]]
            out[f"{name}/{i}"] = [dict(group_name=g["group_name"], lr=g["lr"], weight_decay=g["weight_decay"],
                                       lr_scale=g["lr_scale"], param_names=g["param_names"])
                                  for g in optimizer.param_groups]
    return out


def by_name(groups: list[dict]) -> dict:
    return {n: (g["group_name"], g["lr"], g["weight_decay"], g["lr_scale"])
            for g in groups for n in g["param_names"]}


def test_every_parameter_has_mmaction2s_lr_and_weight_decay(tmp_path):
    args = dict(models=MODELS_CFG, optim=OPTIM, frozen=FROZEN)
    (tmp_path / "args.json").write_text(json.dumps(args))
    (tmp_path / "side.py").write_text(MMACTION2_SIDE)
    proc = subprocess.run([MMACTION2_PYTHON, str(tmp_path / "side.py"), str(tmp_path / "args.json"),
                           str(tmp_path / "theirs.json")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs, mine = json.loads((tmp_path / "theirs.json").read_text()), ours()
    assert sorted(mine) == sorted(theirs)
    for key in mine:
        a, b = by_name(mine[key]), by_name(theirs[key])
        assert sorted(a) == sorted(b), key  # the same trainable parameters (the frozen one in neither)
        assert FROZEN not in a
        differ = [f"{n}: {a[n]} vs {b[n]}" for n in a if a[n][0] != b[n][0] or a[n][2:] != b[n][2:]
                  or a[n][1] != pytest.approx(b[n][1], rel=1e-12)]
        assert not differ, (key, differ[:5])
        # Same groups in the same order, each with its parameters in the same order.
        assert [(g["group_name"], g["param_names"]) for g in mine[key]] == \
               [(g["group_name"], g["param_names"]) for g in theirs[key]], key
        # The comparison covers every kind of layer id and both decay kinds.
        names = {g["group_name"] for g in mine[key]}
        assert {"layer_0_decay", "layer_0_no_decay", "layer_1_decay"} <= names, names
        assert len({g["lr"] for g in mine[key]}) > 3
