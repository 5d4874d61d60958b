"""Benchmark: training throughput of a config on this machine, data and model measured apart.

    python tools/analysis_tools/benchmark_train.py CONFIG [--iters 20] [--cfg-options k=v ...]

Prints clips/s of the dataloader alone (decode + transforms + collate), of train
steps alone (forward + backward + optimiser, on a batch already loaded), and the
size of one batch as uint8 (what kinetix moves) against float32 (the baseline a
pipeline that normalises on the CPU would move).
"""

import argparse
import itertools
import time

import torch

import kinetix.engine  # noqa: F401  (registers every type)
from kinetix.config import apply_cfg_options, load_config, parse_cfg_options
from kinetix.data import build_dataloader
from kinetix.engine.optim import build_optimizer
from kinetix.registry import MODELS, build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--cfg-options", nargs="+", default=[])
    args = parser.parse_args()
    cfg = load_config(args.config)
    apply_cfg_options(cfg, parse_cfg_options(args.cfg_options))
    torch.manual_seed(0)

    loader = build_dataloader(cfg["train_dataloader"], "train_dataloader", seed=0, shuffle_default=True)
    batches = itertools.cycle(loader)
    first = next(batches)  # worker start-up is not throughput
    start = time.perf_counter()
    clips = sum(len(next(batches)["inputs"]) for _ in range(args.iters))
    data_rate = clips / (time.perf_counter() - start)

    model = build(cfg["model"], MODELS, "model")
    optimizer = build_optimizer(cfg["optim_wrapper"], model)
    model.train()

    def step() -> None:
        loss = model(first, mode="loss")["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(args.iters):
        step()
    step_rate = args.iters * len(first["inputs"]) / (time.perf_counter() - start)

    inputs = first["inputs"]
    uint8_mb = inputs.numel() / 2**20
    print(f"config          : {args.config}")
    print(f"batch           : {tuple(inputs.shape)} {inputs.dtype}, {torch.get_num_threads()} threads")
    print(f"dataloader      : {data_rate:8.1f} clips/s ({cfg['train_dataloader'].get('num_workers', 0)} workers)")
    print(f"train step      : {step_rate:8.1f} clips/s (forward + backward + step)")
    print(f"batch size      : {uint8_mb:8.2f} MB as uint8 vs {4 * uint8_mb:.2f} MB as float32")


if __name__ == "__main__":
    main()
