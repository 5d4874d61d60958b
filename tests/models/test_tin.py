"""TIN: the vectorised tin_shift against a loop reference, the interlace, and ResNetTIN's names."""

from __future__ import annotations

import math

import pytest
import torch

from kinetix.errors import ConfigError
from kinetix.models.pretrained import load_resnet_weights
from kinetix.models.resnet import ResNet
from kinetix.models.tin import ResNetTIN, TemporalInterlace, linear_sampler, tin_shift


def _loop_tin_shift(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Reference written from the output's side: out[n, t, c] = x[n, t - s, c] or 0."""
    n, t, c, _ = x.shape
    per_group = c // shift.shape[1]
    out = torch.zeros_like(x)
    for i in range(n):
        for ch in range(c):
            s = int(shift[i, ch // per_group])
            for frame in range(t):
                src = frame - s
                if 0 <= src < t:
                    out[i, frame, ch] = x[i, src, ch]
    return out


@pytest.mark.parametrize("n,t,c,hw,groups", [(2, 5, 8, 3, 4), (3, 8, 4, 1, 2), (1, 3, 6, 2, 1)])
def test_tin_shift_matches_loop_reference(n: int, t: int, c: int, hw: int, groups: int) -> None:
    gen = torch.Generator().manual_seed(n * 100 + t)
    x = torch.randn(n, t, c, hw, generator=gen)
    # shifts past both ends of the clip included
    shift = torch.randint(-t - 1, t + 2, (n, groups), generator=gen, dtype=torch.int32)
    torch.testing.assert_close(tin_shift(x, shift), _loop_tin_shift(x, shift), rtol=0, atol=0)


def test_tin_shift_direction_positive_moves_later() -> None:
    x = torch.arange(4.0).view(1, 4, 1, 1)  # frame t holds t
    out = tin_shift(x, torch.tensor([[1]], dtype=torch.int32)).flatten().tolist()
    assert out == [0.0, 0.0, 1.0, 2.0]


def test_tin_shift_gradient_is_the_adjoint() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 4, 4, 2, dtype=torch.float64, generator=gen, requires_grad=True)
    shift = torch.tensor([[1, -2], [0, 5]], dtype=torch.int32)
    assert torch.autograd.gradcheck(lambda v: tin_shift(v, shift), (x,))
    # an input frame shifted out of the clip gets no gradient
    tin_shift(x, shift).sum().backward()
    assert torch.all(x.grad[1, :, 2:] == 0) and torch.all(x.grad[0, 3, :2] == 0)
    assert torch.all(x.grad[0, :3, :2] == 1)


def test_tin_shift_rejects_groups_that_do_not_divide_channels() -> None:
    with pytest.raises(ValueError, match="groups"):
        tin_shift(torch.zeros(1, 2, 6, 1), torch.zeros(1, 4, dtype=torch.int32))


def test_linear_sampler_interpolates_between_integer_shifts() -> None:
    gen = torch.Generator().manual_seed(1)
    data = torch.randn(2, 6, 4, 2, 3, generator=gen)
    flat = data.reshape(2, 6, 4, 6)
    whole = torch.tensor([[1.0, -1.0], [2.0, 0.0]])
    torch.testing.assert_close(linear_sampler(data, whole),
                               tin_shift(flat, whole.int()).view_as(data))
    half = whole + 0.25
    expected = 0.75 * tin_shift(flat, whole.int()) + 0.25 * tin_shift(flat, whole.int() + 1)
    torch.testing.assert_close(linear_sampler(data, half), expected.view_as(data))


def test_interlace_shifts_groups_by_plus_and_minus_the_offset() -> None:
    t, c = 4, 16  # shift_div 2: 8 interlaced channels, four groups of two
    module = TemporalInterlace(c, num_segments=t, shift_div=2)
    with torch.no_grad():
        module.weight_net.conv.weight.zero_()           # every weight 2 * sigmoid(0) = 1
        module.offset_net.fc2.weight.zero_()
        module.offset_net.fc2.bias.fill_(math.log(3.0))  # 4 * (sigmoid(log 3) - 0.5) = 1
    x = torch.randn(2 * t, c, 2, 2)
    out = module(x).view(2, t, c, 2, 2)
    src = x.view(2, t, c, 2, 2)
    # groups 0 and 1 (+1): frame f from f-1; groups 2 and 3 (-1): frame f from f+1
    torch.testing.assert_close(out[:, 1:, :4], src[:, :-1, :4], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, :-1, 4:8], src[:, 1:, 4:8], atol=1e-5, rtol=0)
    assert out[:, 0, :4].abs().max() < 1e-5 and out[:, -1, 4:8].abs().max() < 1e-5
    torch.testing.assert_close(out[:, :, 8:], src[:, :, 8:], rtol=0, atol=0)


def test_resnet_tin_names_init_and_errors() -> None:
    net = ResNetTIN(depth=18, base_channels=16, num_segments=4, shift_div=4)
    keys = set(net.state_dict())
    assert "layer1.0.conv1.conv.net2.weight" in keys
    assert "layer4.1.conv1.conv.net1.offset_net.fc2.bias" in keys
    assert "layer2.0.conv1.conv.net1.weight_net.conv.weight" in keys
    assert torch.all(net.layer1[0].conv1.conv.net1.offset_net.fc2.bias == 0.5108)
    assert torch.all(net.layer1[0].conv1.conv.net1.weight_net.conv.bias == 0)
    assert net(torch.randn(8, 3, 32, 32)).shape == (8, 128, 1, 1)
    with pytest.raises(ConfigError, match="shift_div"):
        ResNetTIN(depth=18, base_channels=8, num_segments=4, shift_div=4)
    with pytest.raises(ConfigError, match="temporal_pool"):
        ResNetTIN(depth=18, base_channels=16, temporal_pool=True)


def test_resnet_checkpoint_loads_into_the_wrapped_convs(tmp_path) -> None:
    plain = ResNet(depth=18, base_channels=16)
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": plain.state_dict()}, path)
    net = ResNetTIN(depth=18, base_channels=16, num_segments=4, shift_div=4, pretrained=str(path))
    net.init_weights()
    torch.testing.assert_close(net.layer3[1].conv1.conv.net2.weight, plain.layer3[1].conv1.conv.weight)
    torch.testing.assert_close(net.layer3[1].conv1.norm.running_var, plain.layer3[1].conv1.norm.running_var)
