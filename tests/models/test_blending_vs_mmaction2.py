"""MixupBlending and CutmixBlending blend what MMAction2's blend: the same seed and batch give
the same mixed inputs and soft labels (the draws come in MMAction2's order).

MMAction2 runs in its own environment (subprocess; set ``KINETIX_MMACTION2_PYTHON``).
"""

import os
import subprocess
import textwrap

import pytest
import torch

from kinetix.models.blending import CutmixBlending, MixupBlending

MMACTION2_PYTHON = os.environ.get("KINETIX_MMACTION2_PYTHON", "")

pytestmark = pytest.mark.skipif(not MMACTION2_PYTHON,
                                reason="set KINETIX_MMACTION2_PYTHON to a python with mmaction2 installed")

NUM_CLASSES, SEEDS = 6, (0, 1, 2, 3, 4, 5, 6, 7)
# Inputs of both layouts: 2D (B, N, C, H, W) and 3D (B, V, C, T, H, W); odd sizes so that
# a box that x and y swapped would show.
SHAPES = {"2d": (5, 2, 3, 17, 23), "3d": (4, 1, 3, 2, 19, 13)}

MMACTION2_SIDE = textwrap.dedent("""
    import sys
    import torch
    from mmaction.models.utils.blending_utils import CutmixBlending, MixupBlending
    from mmaction.structures import ActionDataSample

    cases, out = torch.load(sys.argv[1]), {}
    for key, (kind, alpha, seed, imgs, labels) in cases.items():
        blend = {"mixup": MixupBlending, "cutmix": CutmixBlending}[kind](num_classes=%d, alpha=alpha)
        samples = [ActionDataSample().set_gt_label(int(l)) for l in labels]
        torch.manual_seed(seed)
        mixed, samples = blend(imgs.clone(), samples)
        out[key] = (mixed, torch.stack([s.gt_label for s in samples]).float())
    torch.save(out, sys.argv[2])
""" % NUM_CLASSES)


def test_mixup_and_cutmix_match_mmaction2(tmp_path) -> None:
    gen = torch.Generator().manual_seed(42)
    cases = {}
    for kind, alpha in (("mixup", 0.2), ("cutmix", 1.0)):
        for layout, shape in SHAPES.items():
            for seed in SEEDS:
                imgs = torch.randn(shape, generator=gen)
                labels = torch.randint(0, NUM_CLASSES, (shape[0],), generator=gen)
                cases[f"{kind}-{layout}-{seed}"] = (kind, alpha, seed, imgs, labels)
    torch.save(cases, tmp_path / "cases.pt")
    (tmp_path / "side.py").write_text(MMACTION2_SIDE)
    proc = subprocess.run([MMACTION2_PYTHON, str(tmp_path / "side.py"), str(tmp_path / "cases.pt"),
                           str(tmp_path / "mm.pt")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    theirs = torch.load(tmp_path / "mm.pt")
    pasted = 0
    for key, (kind, alpha, seed, imgs, labels) in cases.items():
        blend = {"mixup": MixupBlending, "cutmix": CutmixBlending}[kind](NUM_CLASSES, alpha=alpha)
        torch.manual_seed(seed)
        mixed, soft = blend(imgs.clone(), labels)
        their_imgs, their_labels = theirs[key]
        assert torch.equal(mixed, their_imgs), key
        torch.testing.assert_close(soft, their_labels, rtol=0, atol=1e-7, msg=key)
        pasted += kind == "cutmix" and not torch.equal(mixed, imgs)
    assert pasted > 0  # some cutmix boxes were not empty, so the comparison saw boxes
