"""tools/convert/reparameterize_model.py: a MobileOne checkpoint in the deploy form scores as
the original, and a backbone without branches to fuse is a one-line error."""

import importlib.util
from pathlib import Path

import torch

from kinetix.apis import init_recognizer

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs/recognition/tsm/tsm_mobileone-tiny_1x1x8-synthetic-rgb.py"
TOOL = REPO / "tools/convert/reparameterize_model.py"
spec = importlib.util.spec_from_file_location("reparameterize_model", TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


def _scores(model: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model({"inputs": inputs}, mode="predict")


def test_converted_checkpoint_scores_as_the_original(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    model = init_recognizer(str(TINY))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():   # trained-looking statistics: fresh BNs would fuse to the identity
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    trained = tmp_path / "epoch_1.pth"
    torch.save({"state_dict": model.state_dict()}, trained)
    fused = tmp_path / "out" / "deploy.pth"
    assert tool.main([str(TINY), str(trained), str(fused)]) == 0
    assert "in the deploy form" in capsys.readouterr().out

    deploy = init_recognizer(str(TINY), str(fused), cfg_options={"model.backbone.deploy": True})
    assert not any("branch_conv_list" in k for k in deploy.state_dict())
    inputs = torch.randint(0, 256, (2, 8, 3, 56, 56), generator=gen).float()
    expected = _scores(model, inputs)
    torch.testing.assert_close(_scores(deploy, inputs), expected, rtol=1e-5, atol=1e-6)
    # The deploy config takes the unconverted checkpoint as well.
    direct = init_recognizer(str(TINY), str(trained), cfg_options={"model.backbone.deploy": True})
    torch.testing.assert_close(_scores(direct, inputs), expected, rtol=1e-5, atol=1e-6)


def test_backbone_without_branches_is_an_error(tmp_path: Path, capsys) -> None:
    config = REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py"
    checkpoint = tmp_path / "r18.pth"
    torch.save({"state_dict": init_recognizer(str(config)).state_dict()}, checkpoint)
    assert tool.main([str(config), str(checkpoint), str(tmp_path / "x.pth")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "switch_to_deploy" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.pth").exists()
