"""MMAction2's own training (or test) step on synthetic input: the baseline for benchmark.py.

Run by a Python that has MMAction2 1.2.0 (never kinetix's)::

    python tools/dev/mmaction2_benchmark.py CONFIG --mode train|test [--amp] [--iters N]
        [--warmup W] [--batch-size B] [--json FILE]

The input is one uint8 batch of the config's shape, already on the device (no data
loading), as the GPU issue's baseline measured it: ``model.train_step`` with the config's
optim wrapper (``--amp``: AmpOptimWrapper, as MMAction2's ``tools/train.py --amp`` sets it),
or ``model.test_step``. Prints clips/s and peak GPU memory, in the lines benchmark.py prints.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

CROPS = {"ThreeCrop": 3, "TenCrop": 10}


def input_shape(cfg, mode: str) -> tuple[int, ...]:
    """One sample's shape, read from the split's pipeline as benchmark.py reads it."""
    loader = cfg.train_dataloader if mode == "train" else cfg.test_dataloader
    layout, clip_len, num_clips, crops, hw = "NCHW", 1, 1, 1, None
    for step in loader.dataset.pipeline:
        kind = step.get("type")
        if kind in ("SampleFrames", "DenseSampleFrames", "UniformSample"):
            clip_len, num_clips = step.get("clip_len", 1), step.get("num_clips", 1)
        elif kind in ("CenterCrop", "ThreeCrop", "TenCrop", "RandomCrop"):
            size = step["crop_size"]
            hw = (size, size) if isinstance(size, int) else (size[1], size[0])
            crops = CROPS.get(kind, 1) if mode == "test" else 1
        elif kind == "Resize" and step.get("keep_ratio") is False:
            hw = (step["scale"][1], step["scale"][0])
        elif kind == "FormatShape":
            layout = step["input_format"]
    if layout == "NCHW":
        return (clip_len * num_clips * crops, 3, *hw)
    return (num_clips * crops, 3, clip_len, *hw)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--mode", choices=("train", "test"), default="train")
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--json")
    args = parser.parse_args()

    from mmaction.registry import MODELS
    from mmaction.structures import ActionDataSample
    from mmaction.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper

    register_all_modules()
    cfg = Config.fromfile(args.config)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    cfg.model.backbone.pop("pretrained", None)
    model = MODELS.build(cfg.model).to(device)
    model.init_weights()
    loader = cfg.train_dataloader if args.mode == "train" else cfg.test_dataloader
    batch = args.batch_size or loader.batch_size
    shape = input_shape(cfg, args.mode)
    num_classes = cfg.model.cls_head.num_classes
    inputs = [torch.randint(0, 256, shape, dtype=torch.uint8, device=device) for _ in range(batch)]
    samples = [ActionDataSample().set_gt_label(i % num_classes) for i in range(batch)]
    data = {"inputs": inputs, "data_samples": samples}
    if args.mode == "train":
        wrapper_cfg = dict(cfg.optim_wrapper)
        if args.amp:   # what MMAction2's tools/train.py --amp does
            wrapper_cfg.update(type="AmpOptimWrapper", loss_scale="dynamic")
        optim_wrapper = build_optim_wrapper(model, wrapper_cfg)
        model.train()
        step = lambda: model.train_step(data, optim_wrapper)  # noqa: E731
    else:
        model.eval()

        def step():
            with torch.no_grad(), torch.autocast(device.type, enabled=args.amp):
                return model.test_step(data)
    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.iters):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    result = {"config": args.config, "mode": args.mode, "amp": args.amp, "batch_shape": [batch, *shape],
              "clips_per_s": batch * args.iters / seconds, "step_ms": 1e3 * seconds / args.iters,
              "peak_memory_mb": torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None,
              "device_name": torch.cuda.get_device_name() if device.type == "cuda" else "CPU",
              "torch": torch.__version__}
    print(f"MMAction2 {args.mode} {'--amp' if args.amp else 'fp32'}: batch {tuple(result['batch_shape'])} "
          f"on {result['device_name']}, torch {result['torch']}")
    print(f"clips/s: {result['clips_per_s']:.1f}; step {result['step_ms']:.1f} ms; peak memory "
          f"{result['peak_memory_mb'] or 0:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
