"""tools/analysis_tools/get_flops.py: the config's test view, FLOPs that follow the model, one-line errors."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools/analysis_tools/get_flops.py"
TSN_TINY = str(REPO / "configs/recognition/tsn/tsn_r18-tiny_1x1x8-synthetic-rgb.py")
I3D_TINY = str(REPO / "configs/recognition/i3d/i3d_r18-tiny_8x2x1-synthetic-rgb.py")
UNIFORMER_TINY = str(REPO / "configs/recognition/uniformer/uniformer_xs-tiny_8x2x1-synthetic-rgb.py")
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


def test_attention_through_sdpa_is_counted_like_written_out_attention():
    class SelfAttention(nn.Module):
        """(1, 1, N, D) tokens -> attention of 2 heads (SDPA, or written out) -> mean."""

        def __init__(self, fused):
            super().__init__()
            self.fused = fused

        def forward(self, x, mode, stage):
            q = x.reshape(1, 2, 12, 8)  # 2 heads, 12 tokens, 8 channels each
            if self.fused:
                out = torch.nn.functional.scaled_dot_product_attention(q, q, q)
            else:
                out = (q @ q.transpose(-2, -1) * 8 ** -0.5).softmax(-1) @ q
            return out.mean((2, 3))

    fused, _ = get_flops.count(SelfAttention(True), (1, 1, 2 * 12 * 8))
    written, _ = get_flops.count(SelfAttention(False), (1, 1, 2 * 12 * 8))
    # Q @ K^T and P @ V: 2 heads x 12 x 12 x 8 multiply-adds each, 2 FLOPs per multiply-add
    assert fused == 2 * (2 * 2 * 12 * 12 * 8)
    assert written == fused


def test_counting_on_the_meta_device_equals_the_cpu_count_and_falls_back():
    from kinetix.config import load_config
    cfg = load_config(UNIFORMER_TINY)
    shape = get_flops.input_shape(cfg, None)
    on_cpu = get_flops.count(get_flops.build(cfg["model"], get_flops.MODELS, "model"), shape)
    assert get_flops._count_config(cfg, shape) == on_cpu
    assert on_cpu[0] > 0

    class ReadsValues(nn.Module):
        """A forward that looks at a value, which the meta device cannot give."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x, mode, stage):
            return self.fc(x.flatten(1)) if x.sum().item() == 0 else None

    # built on "meta" first: the .item() fails there and the CPU counts it
    get_flops_build = get_flops.build
    get_flops.build = lambda *args, **kwargs: ReadsValues()
    try:
        assert get_flops._count_config({"model": {}}, (1, 1, 4)) == (2 * 4 * 2, 4 * 2 + 2)
    finally:
        get_flops.build = get_flops_build


def test_attention_with_a_bias_is_counted_by_hand():
    import torch
    import torch.nn.functional as F

    class OneAttention(nn.Module):
        """Scaled dot-product attention of 6 tokens x 8 channels, 2 heads, with an additive bias
        (a relative-position bias as MViT passes it), as the CPU's fused kernel would run it."""

        def forward(self, x, mode, stage):
            q = x.reshape(1, 2, 6, 4)
            return F.scaled_dot_product_attention(q, q, q, attn_mask=torch.zeros(1, 2, 6, 6))

    flops, _ = get_flops.count(OneAttention(), (1, 1, 48))
    # q @ k^T and attn @ v: 2 heads x 6 x 6 x 4 multiply-adds each, 2 FLOPs per multiply-add
    assert flops == 2 * 2 * (2 * 6 * 6 * 4)
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
