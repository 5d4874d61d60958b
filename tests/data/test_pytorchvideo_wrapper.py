"""PytorchVideoWrapper(op='RandAugment'): pytorchvideo's RandAugment, each op on hand-computed cases."""

import glob
import os

import numpy as np
import pytest
import torch

from kinetix.data.randaugment import (OP_NAMES, PytorchVideoWrapper, RandAugment, _level_to_arg, _OPS,
                                      apply_op)
from kinetix.errors import ConfigError

MIM = glob.glob("/work/mmaction2-venv/lib/python3*/site-packages/mmaction/.mim/configs")


def clip_of(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, C) uint8 -> (T, C, H, W), the layout the ops take."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).contiguous()


def frames_of(clip: torch.Tensor) -> np.ndarray:
    return clip.permute(0, 2, 3, 1).numpy()


def random_frames(t=4, h=24, w=32, seed=0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return list(rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8))


def one_pixel(h=8, w=8, y=2, x=5, value=200) -> torch.Tensor:
    frames = np.zeros((1, h, w, 3), np.uint8)
    frames[0, y, x] = value
    return clip_of(frames)


def bright_at(clip: torch.Tensor) -> list[tuple[int, int]]:
    ys, xs = np.nonzero(frames_of(clip)[0, ..., 0])
    return list(zip(ys.tolist(), xs.tolist()))


# ---------------------------------------------------------------- the wrapper
def test_shapes_and_dtype_kept():
    frames = random_frames()
    wrapper = PytorchVideoWrapper(op="RandAugment", magnitude=7, num_layers=4, prob=1.0)
    torch.manual_seed(0)
    out = wrapper({"imgs": list(frames)})["imgs"]
    assert len(out) == len(frames)
    assert all(img.shape == (24, 32, 3) and img.dtype == np.uint8 for img in out)
    assert any(not np.array_equal(a, b) for a, b in zip(out, frames))


def test_deterministic_under_a_torch_seed():
    frames = random_frames()
    wrapper = PytorchVideoWrapper(op="RandAugment", magnitude=7, num_layers=4)

    def run(seed):
        torch.manual_seed(seed)
        return np.stack(wrapper({"imgs": list(frames)})["imgs"])

    assert np.array_equal(run(3), run(3))
    assert any(not np.array_equal(run(3), run(s)) for s in range(4, 10))


def test_draw_picks_distinct_ops_and_every_op_when_prob_is_one():
    aug = RandAugment(magnitude=7, num_layers=4, prob=1.0)
    torch.manual_seed(1)
    plan = aug.draw()
    assert len(plan) == 4 and len({name for name, _ in plan}) == 4
    aug = RandAugment(magnitude=7, num_layers=len(OP_NAMES), prob=1.0)
    assert sorted(name for name, _ in aug.draw()) == sorted(OP_NAMES)


def test_same_op_on_every_frame():
    frame = random_frames(t=1)[0]
    wrapper = PytorchVideoWrapper(op="RandAugment", magnitude=9, num_layers=3, prob=1.0)
    torch.manual_seed(5)
    out = wrapper({"imgs": [frame.copy() for _ in range(3)]})["imgs"]
    assert np.array_equal(out[0], out[1]) and np.array_equal(out[0], out[2])


def test_prob_zero_leaves_the_clip_unchanged():
    frames = random_frames()
    wrapper = PytorchVideoWrapper(op="RandAugment", magnitude=10, num_layers=14, prob=0.0)
    out = wrapper({"imgs": list(frames)})["imgs"]
    assert all(np.array_equal(a, b) for a, b in zip(out, frames))


@pytest.mark.parametrize("name", [name for name, kind, *_ in _OPS if kind == "signed"])
def test_level_zero_makes_the_scaled_ops_identity(name):
    _, kind, base, span = next(op for op in _OPS if op[0] == name)
    clip = clip_of(np.stack(random_frames()))
    assert torch.equal(apply_op(clip, name, _level_to_arg(kind, base, span, 0.0)), clip)


def test_magnitude_zero_with_uniform_sampling_draws_level_zero():
    # With the default gaussian sampling a magnitude of 0 still draws levels |N(0, 0.5)|, and
    # AutoContrast/Equalize/Invert/Posterize(4 bits)/Solarize(255) change pixels at any level.
    aug = RandAugment(magnitude=0, num_layers=len(OP_NAMES), prob=1.0, sampling_type="uniform")
    torch.manual_seed(0)
    args = dict(aug.draw())
    bases = {name: base for name, kind, base, _ in _OPS if kind == "signed"}
    assert {name: args[name] for name in bases} == bases
    assert args["Posterize"] == 4 and args["Solarize"] == 1.0


def test_magnitude_scaling_at_level_seven():
    torch.manual_seed(0)
    assert abs(abs(_level_to_arg("signed", 0.0, 30.0, 7.0)) - 21.0) < 1e-9  # Rotate: 21 degrees
    assert _level_to_arg("bits", 4.0, 4.0, 7.0) == 2  # Posterize: 4 - int(2.8)
    assert abs(_level_to_arg("down", 1.0, 1.0, 7.0) - 0.3) < 1e-9  # Solarize threshold
    levels = []
    aug = RandAugment(magnitude=7)
    for _ in range(200):
        levels.append(aug._level())
    assert abs(np.mean(levels) - 7) < 0.15 and 0.35 < np.std(levels) < 0.65


def test_unknown_op_is_a_config_error():
    with pytest.raises(ConfigError, match=r"PytorchVideoWrapper\.op: .*'AugMix'"):
        PytorchVideoWrapper(op="AugMix")


# ---------------------------------------------------------------- each op, by hand
def test_posterize_keeps_the_top_bits():
    clip = clip_of(np.full((1, 2, 2, 3), 0b10110111, np.uint8))
    assert int(apply_op(clip, "Posterize", 2)[0, 0, 0, 0]) == 0b10000000
    assert int(apply_op(clip, "Posterize", 0)[0, 0, 0, 0]) == 0
    assert torch.equal(apply_op(clip, "Posterize", 8), clip)


def test_solarize_inverts_from_the_threshold_up():
    clip = clip_of(np.array([126, 127, 200], np.uint8).reshape(1, 1, 3, 1).repeat(3, axis=3))
    out = apply_op(clip, "Solarize", 0.5)  # threshold int(127.5) = 127
    assert frames_of(out)[0, 0, :, 0].tolist() == [126, 128, 55]


def test_equalize_on_a_known_histogram():
    values = np.array([10] * 255 + [20] * 255 + [30] * 2, np.uint8)
    values = values.reshape(1, 16, 32, 1).repeat(3, axis=3)
    out = frames_of(apply_op(clip_of(values), "Equalize", None))
    # step = (512 - 2) // 255 = 2; lut[v] = (count below v + 1) // 2
    assert {int(a): int(b) for a, b in zip(values.ravel(), out.ravel())} == {10: 0, 20: 128, 30: 255}
    flat = clip_of(np.full((1, 4, 4, 3), 77, np.uint8))
    assert torch.equal(apply_op(flat, "Equalize", None), flat)


def test_equalize_gives_each_frame_its_own_table():
    values = np.array([10] * 255 + [20] * 255 + [30] * 2, np.uint8)
    values = values.reshape(16, 32, 1).repeat(3, axis=2)
    frames = np.stack([np.full_like(values, 5), values])
    out = frames_of(apply_op(clip_of(frames), "Equalize", None))
    assert (out[0] == 5).all() and set(np.unique(out[1]).tolist()) == {0, 128, 255}


def test_wrapper_wants_rgb_uint8_frames_without_boxes():
    from kinetix.errors import DataError
    wrapper = PytorchVideoWrapper(op="RandAugment", prob=1.0)
    with pytest.raises(DataError, match="uint8 RGB"):
        wrapper({"imgs": [np.zeros((4, 4), np.uint8)]})
    with pytest.raises(DataError, match="boxes"):
        wrapper({"imgs": random_frames(), "gt_bboxes": np.zeros((1, 4))})


def test_autocontrast_per_channel_and_invert():
    frames = np.zeros((1, 1, 3, 3), np.uint8)
    frames[0, 0, :, 0] = [50, 100, 150]
    frames[0, 0, :, 1] = 9  # a flat channel stays
    out = frames_of(apply_op(clip_of(frames), "AutoContrast", None))
    assert out[0, 0, :, 0].tolist() == [0, 127, 255] and out[0, 0, :, 1].tolist() == [9, 9, 9]
    assert frames_of(apply_op(clip_of(frames), "Invert", None))[0, 0, :, 0].tolist() == [205, 155, 105]


def test_brightness_truncates_and_clamps():
    clip = clip_of(np.array([3, 100, 200], np.uint8).reshape(1, 1, 3, 1).repeat(3, axis=3))
    assert frames_of(apply_op(clip, "AdjustBrightness", 1.5))[0, 0, :, 0].tolist() == [4, 150, 255]
    assert frames_of(apply_op(clip, "AdjustBrightness", 0.5))[0, 0, :, 0].tolist() == [1, 50, 100]


def test_contrast_blends_towards_each_frames_mean_grey():
    frames = np.zeros((2, 2, 2, 3), np.uint8)
    frames[0, 0] = 200  # frame 0: grey 199 (truncated) and 0, mean 99.5; frame 1: all 0
    out = frames_of(apply_op(clip_of(frames), "AdjustContrast", 0.5))
    assert out[0, 0, 0, 0] == 149 and out[0, 1, 0, 0] == 49  # 100 + 49.75, 0 + 49.75
    assert not out[1].any()


def test_saturation_blends_towards_the_truncated_grey():
    frames = np.zeros((1, 1, 1, 3), np.uint8)
    frames[0, 0, 0] = (100, 0, 0)  # grey trunc(29.89) = 29
    assert frames_of(apply_op(clip_of(frames), "AdjustSaturation", 0.0))[0, 0, 0].tolist() == [29, 29, 29]
    assert frames_of(apply_op(clip_of(frames), "AdjustSaturation", 2.0))[0, 0, 0].tolist() == [171, 0, 0]


def test_sharpness_on_one_bright_pixel():
    clip = one_pixel(h=5, w=5, y=2, x=2, value=130)
    blurred = frames_of(apply_op(clip, "AdjustSharpness", 0.0))[0, ..., 0]
    # 3x3 weights 1 (5 at the centre) / 13: 130 * 5 / 13 = 50, 130 / 13 = 10; the border stays 0
    expected = np.zeros((5, 5), np.uint8)
    expected[1:4, 1:4] = 10
    expected[2, 2] = 50
    assert np.array_equal(blurred, expected)
    sharp = frames_of(apply_op(clip, "AdjustSharpness", 2.0))[0, ..., 0]
    assert sharp[2, 2] == 210 and sharp[1, 1] == 0  # 2 * 130 - 50; 2 * 0 - 10 clamps


def test_rotate_by_90_on_a_square_is_a_quarter_turn_counter_clockwise():
    frames = np.stack(random_frames(t=2, h=9, w=9))
    out = frames_of(apply_op(clip_of(frames), "Rotate", 90.0))
    assert np.array_equal(out, np.rot90(frames, k=1, axes=(1, 2)))


@pytest.mark.parametrize("name, factor, where", [
    ("TranslateX", 0.25, (2, 3)),   # samples 2 pixels to the right: content moves left
    ("TranslateX", -0.25, (2, 7)),
    ("TranslateY", 0.25, (0, 5)),
    ("ShearX", 2 / 3, (2, 5 - 5 / 3)),  # the row shifts by factor * (row + 1/2)
    ("ShearY", 0.2, (2 - 0.2 * 5.5, 5)),  # the column shifts by factor * (column + 1/2)
])
def test_translate_and_shear_move_one_bright_pixel(name, factor, where):
    out = apply_op(one_pixel(y=2, x=5), name, factor)
    y, x = where
    if float(y).is_integer() and float(x).is_integer():
        assert bright_at(out) == [(int(y), int(x))]
        assert int(frames_of(out)[0, int(y), int(x), 0]) == 200
    else:  # a fractional move spreads the pixel over its two neighbours; its centre of mass moves
        plane = frames_of(out)[0, ..., 0].astype(float)
        ys, xs = np.mgrid[:8, :8]
        assert abs((plane * ys).sum() / plane.sum() - y) < 0.05
        assert abs((plane * xs).sum() / plane.sum() - x) < 0.05


def test_warps_fill_the_uncovered_area_with_black():
    # pytorchvideo's fill 0.5 on a 0..255 clip rounds to 0
    clip = clip_of(np.full((1, 8, 8, 3), 255, np.uint8))
    out = frames_of(apply_op(clip, "TranslateX", 0.25))[0, ..., 0]
    assert (out[:, :6] == 255).all() and (out[:, 6:] == 0).all()


# ---------------------------------------------------------------- MMAction2's configs
@pytest.mark.skipif(not MIM, reason="the MMAction2 oracle venv is not installed")
def test_mmaction2_configs_with_the_wrapper_pass_the_train_check():
    import kinetix.models  # noqa: F401  (registers the backbones the configs name)
    from kinetix.config import load_config
    from kinetix.engine.config_check import check_config

    paths = sorted(p for p in glob.glob(os.path.join(MIM[0], "**", "*.py"), recursive=True)
                   if "PytorchVideoWrapper" in open(p).read())
    assert len(paths) == 14
    def train_config(path):
        cfg = load_config(path)
        dataset = cfg["train_dataloader"]["dataset"]
        if dataset["type"] == "RepeatAugDataset":  # not in kinetix yet; the pipeline is what is tested
            dataset.pop("num_repeats", None), dataset.pop("sample_once", None)
            dataset["type"] = "VideoDataset"
        return cfg

    for path in paths:
        check_config(train_config(path), "train")
    cfg = train_config(paths[0])
    pipeline = cfg["train_dataloader"]["dataset"]["pipeline"]
    index = [t["type"] for t in pipeline].index("PytorchVideoWrapper")
    pipeline[index]["op"] = "AugMix"
    with pytest.raises(ConfigError, match=rf"^train_dataloader\.dataset\.pipeline\.{index}\.op: "):
        check_config(cfg, "train")
