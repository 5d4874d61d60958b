"""FLOPs and parameters of a config's model: python tools/analysis_tools/get_flops.py CONFIG [--shape ...]

The input is one test view at the config's size, read from its test pipeline:
for a 2D recognizer (FormatShape NCHW) the ``num_clips * clip_len`` frames of one
crop, ``(frames, 3, H, W)``; for a 3D one (NCTHW) one clip, ``(1, 3, clip_len, H, W)``.
``--shape`` overrides it as MMAction2's tool takes it: ``S`` or ``H W`` (frames and
layout from the config), ``N C H W`` (2D) or ``N C T H W`` (3D).

FLOPs are counted by ``torch.utils.flop_counter.FlopCounterMode`` over the whole
forward to the class scores (backbone, neck, head), two per multiply-add, run on the meta
device (shapes only: seconds for any model; on the CPU if the forward needs values); GMACs
(multiply-adds) is the unit MMAction2's get_flops prints as "Flops". Errors are one line.
Attention through ``scaled_dot_product_attention`` counts its two matrix products
(``SDPA_FLOPS``: torch's counter knows the GPU kernels but not the CPU one).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

import kinetix.engine  # noqa: F401  (registers every type)
from kinetix.config import apply_cfg_options, load_config, parse_cfg_options
from kinetix.errors import ConfigError, KinetixError
from kinetix.registry import MODELS, build

# On the CPU, scaled_dot_product_attention runs this op, which FlopCounterMode (torch 2.13)
# does not know and would count as 0; count it as torch counts the GPU attention kernels:
# Q @ K^T and P @ V (the softmax and a mask addition are not counted, as for the math path).
_aten = torch.ops.aten
SDPA_FLOPS = {
    _aten._scaled_dot_product_flash_attention_for_cpu:
        lambda q, k, v, *args, out_shape=None, **kwargs: sdpa_flop_count(q, k, v),
    _aten._scaled_dot_product_flash_attention_for_cpu_backward:
        lambda grad, q, k, v, *args, out_shape=None, **kwargs:
            sdpa_backward_flop_count(grad, q, k, v),
}

_CROPS = ("CenterCrop", "ThreeCrop", "TenCrop", "RandomCrop")


def _test_pipeline(cfg: dict, split: str = "test") -> list[dict]:
    loader = cfg.get(f"{split}_dataloader") or (cfg.get("val_dataloader") if split == "test" else None) or {}
    pipeline = (loader.get("dataset") or {}).get("pipeline") or cfg.get(f"{split}_pipeline")
    if not isinstance(pipeline, list):
        raise ConfigError(f"{split}_dataloader.dataset.pipeline: no {split} pipeline to read the "
                          f"input size from; give --shape")
    return [step for step in pipeline if isinstance(step, dict)]


def _size(value: Any, key: str) -> tuple[int, int]:
    """A crop_size or Resize scale as (H, W); MMAction2 writes pairs as (w, h)."""
    if isinstance(value, int):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) and v > 0
                                                                    for v in value):
        return value[1], value[0]
    raise ConfigError(f"{key}: {value!r} is not a size; give --shape")


def config_input(cfg: dict, split: str = "test") -> tuple[str, int, int, tuple[int, int] | None]:
    """(layout, clip_len, num_clips, (H, W) or None) of one view, from the split's pipeline."""
    layout, clip_len, num_clips, hw = None, 1, 1, None
    for i, step in enumerate(_test_pipeline(cfg, split)):
        key = f"{split}_dataloader.dataset.pipeline[{i}]"
        kind = step.get("type")
        if "clip_len" in step or kind in ("SampleFrames", "UniformSample", "DenseSampleFrames"):
            clip_len, num_clips = int(step.get("clip_len", 1)), int(step.get("num_clips", 1))
        elif kind in _CROPS:
            hw = _size(step.get("crop_size"), f"{key}.crop_size")
        elif kind == "Resize" and step.get("keep_ratio") is False:
            hw = _size(step.get("scale"), f"{key}.scale")
        elif kind == "FormatShape":
            layout = step.get("input_format")
    if layout not in ("NCHW", "NCTHW"):
        raise ConfigError(f"{split} pipeline: FormatShape input_format {layout!r} is not NCHW or NCTHW; "
                          f"give --shape")
    return layout, clip_len, num_clips, hw


def input_shape(cfg: dict, shape: Sequence[int] | None) -> tuple[int, ...]:
    """The batch the recognizer gets: (1, frames, C, H, W) for 2D, (clips, 1, C, T, H, W) for 3D."""
    if shape and len(shape) in (4, 5):
        return (1, *shape) if len(shape) == 4 else (shape[0], 1, *shape[1:])
    if shape and len(shape) not in (1, 2):
        raise ConfigError(f"--shape: {len(shape)} numbers; give S, H W, N C H W or N C T H W")
    layout, clip_len, num_clips, hw = config_input(cfg)
    if shape:
        hw = (shape[0], shape[-1])
    if hw is None:
        raise ConfigError("test pipeline: no fixed crop or resize gives the input size; give --shape")
    if layout == "NCHW":
        return (1, clip_len * num_clips, 3, *hw)
    return (1, 1, 3, clip_len, *hw)


def count(model: torch.nn.Module, shape: tuple[int, ...],
          device: str | torch.device = "cpu") -> tuple[int, int]:
    """(FLOPs, parameters) of one forward from inputs to raw class scores (``device``: the
    model's; on "meta" nothing is computed, only shapes, which is all the counter reads)."""
    inputs = torch.zeros(shape, device=device)
    model.eval()
    counter = FlopCounterMode(display=False, custom_mapping=SDPA_FLOPS)
    # nn.MultiheadAttention's inference fast path is one fused op the counter cannot see;
    # off, it runs the matrix products the counter counts.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), counter:
            model(inputs, mode="tensor", stage="head")
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return counter.get_total_flops(), sum(p.numel() for p in model.parameters())


def _count_config(cfg: dict, shape: tuple[int, ...]) -> tuple[int, int]:
    """Count on the meta device (seconds even for a ViT-L on 32 frames, where a CPU forward
    takes minutes); a model whose forward needs real values there is counted on the CPU."""
    try:
        with torch.device("meta"):
            model = build(cfg["model"], MODELS, "model")
        return count(model, shape, "meta")
    except (NotImplementedError, RuntimeError):
        return count(build(cfg["model"], MODELS, "model"), shape)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--shape", type=int, nargs="+", default=None,
                        help="S, H W, N C H W (2D) or N C T H W (3D); default: the config's test view")
    parser.add_argument("--cfg-options", nargs="+", default=[])
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
        apply_cfg_options(cfg, parse_cfg_options(args.cfg_options))
        if "model" not in cfg:
            raise ConfigError(f"{args.config}: no model")
        shape = input_shape(cfg, args.shape)
        try:
            flops, params = _count_config(cfg, shape)
        except RuntimeError as exc:  # a shape the model cannot take
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"--shape: the model cannot run on input {shape}: {first}") from None
    except KinetixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    view = shape[1:] if shape[0] == 1 else shape
    print(f"Config: {args.config}\nInput shape: {tuple(view)}\n"
          f"GFLOPs: {flops / 1e9:.2f} (two per multiply-add)\n"
          f"GMACs: {flops / 2e9:.2f} (MMAction2's get_flops calls these Flops)\n"
          f"Params: {params / 1e6:.2f} M")
    return 0


if __name__ == "__main__":
    sys.exit(main())
