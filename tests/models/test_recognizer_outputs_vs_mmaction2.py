"""``mode='tensor'`` and ``average_clips=None`` give what MMAction2's recognizers give.

MMAction2 builds the same tiny models in its own environment (subprocess; set
``KINETIX_MMACTION2_PYTHON``), saves its weights, a uint8 input and its outputs;
kinetix loads the weights strict and must reproduce the outputs' shapes and values.
"""

import copy
import json
import os
import subprocess
import textwrap

import pytest
import torch

import kinetix.models  # noqa: F401  (registers the model types)
from kinetix.registry import MODELS, build

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not MMACTION2_PYTHON,
                       reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed"),
]

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
MODELS_UNDER_TEST = {
    # 2 samples x 3 segments of 32x32 frames
    "tsn_r18": (dict(type="Recognizer2D",
                     backbone=dict(type="ResNet", depth=18, norm_eval=False),
                     cls_head=dict(type="TSNHead", num_classes=5, in_channels=512,
                                   average_clips=None),
                     data_preprocessor=dict(type="ActionDataPreprocessor", mean=MEAN, std=STD,
                                            format_shape="NCHW")),
                (2, 3, 3, 32, 32)),
    # 2 samples x 3 views of 4-frame clips
    "i3d_r18": (dict(type="Recognizer3D",
                     backbone=dict(type="ResNet3d", depth=18, base_channels=8, pretrained2d=False,
                                   pretrained=None),
                     cls_head=dict(type="I3DHead", num_classes=5, in_channels=64,
                                   average_clips=None),
                     data_preprocessor=dict(type="ActionDataPreprocessor", mean=MEAN, std=STD,
                                            format_shape="NCTHW")),
                (2, 3, 3, 4, 32, 32)),
}

MMACTION2_SIDE = textwrap.dedent("""
    import json, sys
    import torch
    from mmaction.registry import MODELS
    from mmaction.structures import ActionDataSample
    from mmaction.utils import register_all_modules

    register_all_modules()
    cases, out_dir = json.load(open(sys.argv[1])), sys.argv[2]
    for name, (cfg, shape) in cases.items():
        torch.manual_seed(0)
        model = MODELS.build(cfg).eval()
        inputs = torch.randint(0, 256, shape, dtype=torch.uint8)
        samples = [ActionDataSample().set_gt_label(0) for _ in range(shape[0])]
        with torch.no_grad():
            data = model.data_preprocessor(dict(inputs=list(inputs), data_samples=samples), False)
            tensor = model(data["inputs"], mode="tensor")
            predicted = model(data["inputs"], data["data_samples"], mode="predict")
        torch.save(dict(state_dict=model.state_dict(), inputs=inputs, tensor=tensor,
                        pred_score=torch.stack([s.pred_score for s in predicted])),
                   f"{out_dir}/{name}.pt")
""")


@pytest.fixture(scope="module")
def mmaction2_outputs(tmp_path_factory):
    out = tmp_path_factory.mktemp("mmaction2")
    (out / "cases.json").write_text(json.dumps(MODELS_UNDER_TEST))
    (out / "side.py").write_text(MMACTION2_SIDE)
    proc = subprocess.run([MMACTION2_PYTHON, str(out / "side.py"), str(out / "cases.json"), str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.mark.parametrize("name", sorted(MODELS_UNDER_TEST))
def test_tensor_mode_and_per_view_scores_match_mmaction2(name, mmaction2_outputs):
    cfg, shape = MODELS_UNDER_TEST[name]
    ref = torch.load(mmaction2_outputs / f"{name}.pt", weights_only=True)
    model = build(copy.deepcopy(cfg), MODELS, "model").eval()
    model.load_state_dict(ref["state_dict"], strict=True)
    batch = {"inputs": ref["inputs"], "labels": torch.zeros(shape[0], dtype=torch.int64)}
    with torch.no_grad():
        tensor = model(batch, mode="tensor")
        scores = model(batch, mode="predict")
    # backbone features with views folded into the batch axis, e.g. (6, 512, 1, 1) for TSN
    assert tensor.shape == ref["tensor"].shape
    assert (tensor - ref["tensor"]).abs().max() <= 1e-4
    # average_clips=None: one row of raw scores per view, (samples, views, classes); TSN's
    # consensus already merged its 3 segments into one view
    views = 1 if name.startswith("tsn") else shape[1]
    assert scores.shape == ref["pred_score"].shape == (shape[0], views, 5)
    assert (scores - ref["pred_score"]).abs().max() <= 1e-4
