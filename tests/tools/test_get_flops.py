"""tools/analysis_tools/get_flops.py: the config's test view, FLOPs that follow the model, one-line errors."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools/analysis_tools/get_flops.py"
TSN_TINY = str(REPO / "configs/recognition/tsn/tsn_r18-tiny_1x1x8-synthetic-rgb.py")
I3D_TINY = str(REPO / "configs/recognition/i3d/i3d_r18-tiny_8x2x1-synthetic-rgb.py")
TSM_K400 = str(REPO / "configs/recognition/tsm/tsm_imagenet-pretrained-r50_8xb16-1x1x8-50e_kinetics400-rgb.py")

spec = importlib.util.spec_from_file_location("get_flops", TOOL)
get_flops = importlib.util.module_from_spec(spec)
spec.loader.exec_module(get_flops)


def test_input_shape_is_one_test_view_of_the_config():
    from kinetix.config import load_config
    # TSM: 8 segments x 1 frame, TenCrop 224 -> one crop's 8 frames
    assert get_flops.input_shape(load_config(TSM_K400), None) == (1, 8, 3, 224, 224)
    # tiny I3D: one 8-frame clip resized to 56x56
    assert get_flops.input_shape(load_config(I3D_TINY), None) == (1, 1, 3, 8, 56, 56)
    # --shape as MMAction2 takes it
    assert get_flops.input_shape(load_config(TSM_K400), [160]) == (1, 8, 3, 160, 160)
    assert get_flops.input_shape(load_config(TSM_K400), [8, 3, 112, 128]) == (1, 8, 3, 112, 128)
    assert get_flops.input_shape(load_config(I3D_TINY), [1, 3, 4, 32, 32]) == (1, 1, 3, 4, 32, 32)


def test_flops_of_a_single_conv_and_fc_are_counted_by_hand():
    class OneConv(nn.Module):
        """(1, N, 3, H, W) -> conv 3->4, 3x3, no padding -> global mean -> fc 4->2."""

        def __init__(self):
            super().__init__()
            self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 2)

        def forward(self, x, mode, stage):
            return self.fc(self.conv(x.flatten(0, 1)).mean((2, 3)))

    flops, params = get_flops.count(OneConv(), (1, 2, 3, 10, 10))
    # conv: 2 images x 8x8 outputs x 4 channels x 27 multiply-adds; fc: 2 x 4 x 2; 2 FLOPs each
    assert flops == 2 * (2 * 8 * 8 * 4 * 27 + 2 * 4 * 2)
    assert params == 3 * 4 * 9 + 4 + 4 * 2 + 2


def test_attention_is_counted_fused_or_not():
    """scaled_dot_product_attention and nn.MultiheadAttention's fast path (transformer
    backbones) count as their projections and the two products with the attention matrix."""
    import torch
    import torch.nn.functional as F

    class Attend(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, x, mode, stage):
            tokens = x.reshape(1, 10, 8)
            q = tokens.view(1, 10, 2, 4).transpose(1, 2)
            return self.mha(tokens, tokens, tokens, need_weights=False)[0] + \
                F.scaled_dot_product_attention(q, q, q).transpose(1, 2).reshape(1, 10, 8)

    flops, _ = get_flops.count(Attend(), (1, 10, 8))
    products = 2 * (2 * 10 * 10 * 4)           # q k^T and (attention) v, 2 heads of 4
    projections = 10 * 8 * 24 + 10 * 8 * 8     # in_proj and out_proj
    assert flops == 2 * (projections + 2 * products)
    assert torch.backends.mha.get_fastpath_enabled()   # restored after counting


def test_cli_prints_gflops_and_params(capsys):
    assert get_flops.main([TSN_TINY]) == 0
    out = capsys.readouterr().out
    assert "Input shape: (8, 3, 56, 56)" in out
    gflops = float(out.split("GFLOPs: ")[1].split()[0])
    gmacs = float(out.split("GMACs: ")[1].split()[0])
    assert gflops > 0 and gmacs == pytest.approx(gflops / 2, abs=0.01)
    # twice the frames, twice the FLOPs (a 2D network sees each frame alone)
    assert get_flops.main([TSN_TINY, "--shape", "16", "3", "56", "56"]) == 0
    doubled = float(capsys.readouterr().out.split("GFLOPs: ")[1].split()[0])
    assert doubled == pytest.approx(2 * gflops, rel=0.01)


@pytest.mark.parametrize("args, says", [
    (["missing.py"], "missing.py"),
    ([TSN_TINY, "--shape", "1", "2", "3"], "--shape: 3 numbers"),
    ([TSN_TINY, "--cfg-options", "model.backbone.depth=19"], "model.backbone"),
])
def test_errors_are_one_line(args, says):
    proc = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True,
                          cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], proc.stderr
