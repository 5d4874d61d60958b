"""Training or test throughput of a config in kinetix's own engine, against the hardware's peak.

    python tools/analysis_tools/benchmark.py CONFIG --mode train|test [--synthetic] [--iters N]
        [--warmup W] [--batch-size B] [--amp] [--compile [BACKEND]] [--compile-mode MODE]
        [--channels-last on|off]
        [--cfg-options k=v ...] [--json FILE]

train: the real Trainer (its step, the LoggerHook, the lr schedule, clip_grad from the config)
runs ``--warmup`` then ``--iters`` iterations. test: the real test loop (``predict``) over
``--iters`` batches of the test pipeline's views. ``--synthetic`` feeds one uint8 batch of
the config's input shape, held in pinned memory (no decoding: the model and engine alone);
without it the config's dataloader is used.

It prints clips/s; the step time split into waiting for data and the rest (compute, as the
host sees it; the device is synchronised only before and after the timed iterations, as in
a real run); peak memory (GPU: the allocator's peak; CPU: the process's peak RSS); the
model FLOPs of one step (``FlopCounterMode`` over a forward, and backward in training) and
MFU, those FLOPs per second over the device's peak for the dtype (bf16/fp16 tensor cores
under --amp, TF32 for fp32 convolutions, which cuDNN uses by default); and, with
--compile, the graphs, graph breaks and recompilations that torch._dynamo counted.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import get_flops  # noqa: E402  (reads the input shape of a split's pipeline)

import kinetix.engine  # noqa: E402,F401  (registers every type)
from kinetix.config import apply_cfg_options, load_config, parse_cfg_options  # noqa: E402
from kinetix.data import build_dataloader  # noqa: E402
from kinetix.engine.env import select_device  # noqa: E402
from kinetix.engine.hooks import LoggerHook  # noqa: E402
from kinetix.engine.inference import predict  # noqa: E402
from kinetix.engine.logs import ScalarWriter, setup_logger  # noqa: E402
from kinetix.engine.optim import build_optimizer  # noqa: E402
from kinetix.engine.precision import choose_precision, training_precision  # noqa: E402
from kinetix.engine.runner import speed_up  # noqa: E402
from kinetix.engine.schedulers import LRSchedule  # noqa: E402
from kinetix.engine.speed import compile_options  # noqa: E402
from kinetix.engine.trainer import Hook, Trainer  # noqa: E402
from kinetix.errors import ConfigError, KinetixError  # noqa: E402
from kinetix.registry import MODELS, build  # noqa: E402

# Dense peak TFLOP/s per (device name fragment, dtype) from the vendors' data sheets (SXM parts).
PEAKS = {("H200", "bf16"): 989.4, ("H200", "fp16"): 989.4, ("H200", "tf32"): 494.7, ("H200", "fp32"): 66.9,
         ("H100", "bf16"): 989.4, ("H100", "fp16"): 989.4, ("H100", "tf32"): 494.7, ("H100", "fp32"): 66.9,
         ("A100", "bf16"): 312.0, ("A100", "fp16"): 312.0, ("A100", "tf32"): 156.0, ("A100", "fp32"): 19.5}
CROPS = {"ThreeCrop": 3, "TenCrop": 10}


def batch_shape(cfg: dict, mode: str, batch_size: int) -> tuple[int, ...]:
    """The uint8 batch the recognizer gets in this mode, from the split's pipeline."""
    split = "train" if mode == "train" else "test"
    layout, clip_len, num_clips, hw = get_flops.config_input(cfg, split)
    if hw is None:
        raise ConfigError(f"{split} pipeline: no fixed crop or resize gives the input size")
    crops = 1 if mode == "train" else max(
        [CROPS.get(step.get("type"), 1) for step in get_flops._test_pipeline(cfg, split)])
    if layout == "NCHW":
        return (batch_size, clip_len * num_clips * crops, 3, *hw)
    return (batch_size, num_clips * crops, 3, clip_len, *hw)


class SyntheticLoader:
    """``iters`` times the same pinned uint8 batch: the engine and model alone, no decoding."""

    def __init__(self, shape: tuple[int, ...], iters: int, num_classes: int) -> None:
        gen = torch.Generator().manual_seed(0)
        inputs = torch.randint(0, 256, shape, generator=gen, dtype=torch.uint8)
        self.batch = {"inputs": inputs.pin_memory() if torch.cuda.is_available() else inputs,
                      "labels": torch.arange(shape[0]) % num_classes,
                      "indices": torch.arange(shape[0]), "filenames": [""] * shape[0]}
        self.iters, self.batch_size, self.sampler = iters, shape[0], None

    def __len__(self) -> int:
        return self.iters

    def __iter__(self):
        return (self.batch for _ in range(self.iters))


class StepTimes(Hook):
    """Collects each step's data wait and total host time after the warm-up."""

    def __init__(self, warmup: int, device: torch.device) -> None:
        self.warmup, self.device = warmup, device
        self.data, self.total, self.start = [], [], None

    def after_step(self, trainer: Trainer, outputs: dict[str, Any]) -> None:
        if trainer.iter == self.warmup:
            synchronize(self.device)
            self.start = time.perf_counter()
        elif trainer.iter > self.warmup:
            self.data.append(outputs["data_time"])
            self.total.append(outputs["time"])


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_flops(model: torch.nn.Module, batch: dict, mode: str) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        if mode == "train":
            model.train()
            model(batch, mode="loss")["loss"].backward()
            model.zero_grad(set_to_none=True)
        else:
            model.eval()
            with torch.no_grad():
                model(batch, mode="predict")
    return counter.get_total_flops()


def peak_tflops(device: torch.device, dtype: str) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    if dtype == "fp32" and torch.backends.cudnn.allow_tf32:
        dtype = "tf32"
    return next((v for (part, kind), v in PEAKS.items() if part in name and kind == dtype), None)


def run(args: argparse.Namespace) -> dict[str, Any]:
    cfg = load_config(args.config)
    apply_cfg_options(cfg, parse_cfg_options(args.cfg_options))
    if args.compile:
        cfg["compile"] = {} if args.compile == "inductor" else {"backend": args.compile}
        if args.compile_mode:
            cfg["compile"]["mode"] = args.compile_mode
    if args.channels_last is not None:
        cfg["channels_last"] = args.channels_last == "on"
    device = select_device()
    torch.manual_seed(0)
    split = "train" if args.mode == "train" else "test"
    loader_cfg = dict(cfg[f"{split}_dataloader"])
    batch_size = args.batch_size or loader_cfg["batch_size"]
    model = build(cfg["model"], MODELS, "model").to(device)
    num_classes = getattr(model.cls_head, "num_classes", 2)
    total = args.warmup + args.iters
    if args.synthetic:
        loader = SyntheticLoader(batch_shape(cfg, args.mode, batch_size), total, num_classes)
    else:
        loader = build_dataloader({**loader_cfg, "batch_size": batch_size,
                                   "drop_last": args.mode == "train"}, f"{split}_dataloader", seed=0,
                                  shuffle_default=args.mode == "train", for_eval=args.mode != "train")
    first = next(iter(loader))
    flops = step_flops(model, {**first, "inputs": first["inputs"].to(device)}, args.mode)
    precision = training_precision(cfg["optim_wrapper"], args.amp, device) if args.mode == "train" else None
    speed_up(model, cfg, device)
    compiled = [n for n in ("backbone", "neck", "cls_head") if compile_options(cfg) is not None
                and isinstance(getattr(model, n, None), torch.nn.Module)]
    torch._dynamo.utils.counters.clear()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    if args.mode == "train":
        times = StepTimes(args.warmup, device)
        optimizer = build_optimizer(cfg["optim_wrapper"], model)
        trainer = Trainer(model=model, optimizer=optimizer, train_loader=loader, max_epochs=None,
                          max_iters=min(total, len(loader)), lr_schedule=LRSchedule([], len(loader)),
                          hooks=[LoggerHook(interval=args.log_interval), times], device=device,
                          work_dir=Path("."), scalars=ScalarWriter(None),
                          clip_grad=cfg["optim_wrapper"].get("clip_grad"), amp=precision)
        trainer.train()
        synchronize(device)
        seconds, steps = time.perf_counter() - times.start, len(times.total)
        data = sum(times.data)
        dtype = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(precision.dtype, "fp32")
    else:
        warm = SyntheticLoader(batch_shape(cfg, args.mode, batch_size), args.warmup, num_classes) \
            if args.synthetic else [b for _, b in zip(range(args.warmup), loader)]
        fixed = compile_options(cfg) is not None
        predict(model, warm, device, amp=args.amp, fixed_batch=fixed)
        synchronize(device)
        start = time.perf_counter()
        timed = SyntheticLoader(batch_shape(cfg, args.mode, batch_size), args.iters, num_classes) \
            if args.synthetic else loader
        predict(model, timed, device, amp=args.amp, fixed_batch=fixed)
        synchronize(device)
        seconds, steps, data = time.perf_counter() - start, args.iters, float("nan")
        dtype = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(
            choose_precision(device, enabled=args.amp).dtype, "fp32")
    clips = steps * batch_size
    achieved = flops * steps / seconds
    peak = peak_tflops(device, dtype)
    dynamo = torch._dynamo.utils.counters
    return {
        "config": args.config, "mode": args.mode, "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "torch": torch.__version__, "batch_shape": list(first["inputs"].shape), "dtype": dtype,
        "compile": compile_options(cfg), "channels_last": any(
            p.dim() == 4 and not p.is_contiguous() for p in model.parameters()),
        "steps": steps, "clips_per_s": clips / seconds, "step_ms": 1e3 * seconds / steps,
        "data_ms": 1e3 * data / steps, "compute_ms": 1e3 * (seconds - data) / steps if data == data else None,
        "peak_memory_mb": (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
                           else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**20,
        "gflop_per_step": flops / 1e9, "achieved_tflops": achieved / 1e12,
        "peak_tflops": peak, "mfu": achieved / (peak * 1e12) if peak else None,
        "graphs": dynamo["stats"].get("unique_graphs", 0), "graph_breaks": sum(dynamo["graph_break"].values()),
        # graphs beyond the first of each compiled part (backbone, neck, head)
        "recompiles": max(0, dynamo["stats"].get("unique_graphs", 0) - len(compiled)) if compiled else 0,
    }


def report(r: dict[str, Any]) -> str:
    mfu = (f"MFU {100 * r['mfu']:.1f}% of {r['peak_tflops']:g} TFLOP/s ({r['dtype']})" if r["mfu"] is not None
           else "MFU n/a (no peak known for this device)")
    split = (f" (data {r['data_ms']:.1f} ms, compute {r['compute_ms']:.1f} ms)" if r["compute_ms"] is not None
             else "")
    lines = [f"config: {r['config']}",
             f"device: {r['device_name']}, torch {r['torch']}, mode {r['mode']}, batch {tuple(r['batch_shape'])} "
             f"uint8, {r['dtype']}, compile {r['compile'] if r['compile'] is not None else 'off'}, "
             f"channels_last {'on' if r['channels_last'] else 'off'}",
             f"clips/s: {r['clips_per_s']:.1f} over {r['steps']} steps",
             f"step: {r['step_ms']:.1f} ms{split}",
             f"peak memory: {r['peak_memory_mb']:.0f} MB ({'GPU' if r['device'] != 'cpu' else 'process RSS'})",
             f"model FLOPs: {r['gflop_per_step']:.1f} GFLOP per step; achieved "
             f"{1e3 * r['achieved_tflops']:.1f} GFLOP/s; {mfu}"]
    if r["compile"] is not None:
        lines.append(f"torch.compile: {r['graphs']} graphs, {r['graph_breaks']} graph breaks, "
                     f"{r['recompiles']} recompilations")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--mode", choices=("train", "test"), default="train")
    parser.add_argument("--synthetic", action="store_true", help="one uint8 batch in pinned memory, no decoding")
    parser.add_argument("--iters", type=int, default=20, help="timed iterations (batches)")
    parser.add_argument("--warmup", type=int, default=5, help="iterations before timing")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the config's")
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--compile", nargs="?", const="inductor", default=None,
                        help="torch.compile the model (optionally with this backend, e.g. eager)")
    parser.add_argument("--compile-mode", choices=("default", "reduce-overhead", "max-autotune",
                                                   "max-autotune-no-cudagraphs"), default=None,
                        help="torch.compile's mode; reduce-overhead replays CUDA graphs (implies --compile)")
    parser.add_argument("--channels-last", choices=("on", "off"), default=None,
                        help="default: on for CUDA, off on the CPU")
    parser.add_argument("--log-interval", type=int, default=10)
    parser.add_argument("--cfg-options", nargs="+", default=[])
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args(argv)
    if args.iters < 1 or args.warmup < 1:
        parser.error("--iters and --warmup must be at least 1")
    if args.compile_mode and not args.compile:
        args.compile = "inductor"
    setup_logger(None)
    try:
        result = run(args)
    except KinetixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
