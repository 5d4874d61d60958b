"""Timing of a data pipeline, shared by both sides of ``bench_data.py``.

Imported by bench_data.py for kinetix's side; run as a script by the Python
given to ``--against-mmaction2`` for MMAction2's side, so that both sides are
measured by the same loop. It therefore imports nothing from kinetix.

As a script (MMAction2's side)::

    PYTHON bench_data_driver.py SPEC.json

SPEC.json holds ``pipeline`` (the config's pipeline as a Python literal, the
one kinetix resolved, ``--cfg-options`` included) and ``samples`` (the info
dicts of the same videos). It answers ``READY`` or ``FAIL <why>`` on stdout,
then one line per command read from stdin:

* ``round CLIPS SEED`` -> ``ROUND {json}``: CPU time of CLIPS samples, one thread;
* ``loader WORKERS CLIPS SEED`` -> ``LOADER {json}``: wall-clock through a DataLoader;
* ``quit``.
"""

from __future__ import annotations

import ast
import json
import random
import sys
import time
from typing import Any, Callable

import numpy as np

DECODE_STEPS = ("Init", "Decode")          # DecordInit, PyAVDecode, RawFrameDecode, ...
RESIZE_STEPS = ("Resize", "RandomRescale")  # the crops only cut views; these allocate


def category(step: Any) -> str:
    """Which share of the time a pipeline step's work counts in."""
    name = type(step).__name__
    if name.endswith(DECODE_STEPS):
        return "decode"
    if name in RESIZE_STEPS:
        return "resize"
    return "rest"


class TimedStep:
    """A pipeline step that adds its CPU time to ``stats[category]``."""

    def __init__(self, step: Callable[[dict], dict], stats: dict, kind: str, name: str) -> None:
        self.step, self.stats, self.kind, self.name = step, stats, kind, name

    def __call__(self, results: dict) -> dict:
        start = time.process_time()
        try:
            return self.step(results)
        finally:
            spent = time.process_time() - start
            self.stats[self.kind] = self.stats.get(self.kind, 0.0) + spent
            steps = self.stats.setdefault("steps", {})
            steps[self.name] = steps.get(self.name, 0.0) + spent


def step_names(steps: list) -> list[str]:
    """Type names, numbered where a type appears twice (Resize, MultiScaleCrop, Resize#2)."""
    names: list[str] = []
    for step in steps:
        name = type(step).__name__
        count = sum(n.split("#")[0] == name for n in names)
        names.append(f"{name}#{count + 1}" if count else name)
    return names


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
        torch.manual_seed(seed)
    except ImportError:
        pass


def one_thread() -> None:
    """One thread in every library that would start more: the benchmark measures one core."""
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    try:
        import cv2
        cv2.setNumThreads(1)
    except ImportError:
        pass


def run_round(fetch: Callable[[int], Any], clips: int, seed: int, stats: dict) -> dict:
    """CPU seconds to fetch ``clips`` samples; ``stats`` gathers the steps' shares meanwhile."""
    stats.clear()
    seed_all(seed)
    skipped = 0
    start = time.process_time()
    for i in range(clips):
        out = fetch(i)
        skipped += isinstance(out, dict) and "skipped" in out
    cpu = time.process_time() - start
    return dict(stats, clips=clips, cpu_s=cpu, skipped=skipped)


def run_loader(dataset: Any, workers: int, clips: int, seed: int, collate: Callable) -> dict:
    """Wall-clock clips/s of a DataLoader with ``workers`` processes, after its first batch
    (worker start-up is not throughput)."""
    import torch
    from torch.utils.data import DataLoader
    loader = DataLoader(dataset, batch_size=1, num_workers=workers, collate_fn=collate,
                        generator=torch.Generator().manual_seed(seed))
    batches = iter(loader)
    next(batches)
    start = time.perf_counter()
    n = sum(1 for _ in batches)
    wall = time.perf_counter() - start
    return dict(clips=n, wall_s=wall)


# ---------------------------------------------------------------- MMAction2's side
class _Samples:
    """``samples`` through ``steps``, cycled to ``clips`` items (a map-style dataset)."""

    def __init__(self, samples: list[dict], steps: list, clips: int) -> None:
        self.samples, self.steps, self.clips = samples, steps, clips

    def __len__(self) -> int:
        return self.clips

    def __getitem__(self, i: int) -> dict:
        results = dict(self.samples[i % len(self.samples)])
        for step in self.steps:
            results = step(results)
        return results


def _first(batch: list) -> Any:
    return batch[0]


def _build_mmaction2(pipeline: list[dict]) -> list:
    from mmaction.registry import TRANSFORMS
    from mmaction.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    return [TRANSFORMS.build(dict(cfg)) for cfg in pipeline]


def main(argv: list[str]) -> int:
    one_thread()
    try:
        with open(argv[0]) as f:
            spec = json.load(f)
        steps = _build_mmaction2(ast.literal_eval(spec["pipeline"]))
    except Exception as exc:  # noqa: BLE001 - reported to the parent as one line
        print(f"FAIL {type(exc).__name__}: {' '.join(str(exc).split())}", flush=True)
        return 1
    samples = spec["samples"]
    stats: dict = {}
    timed = [TimedStep(step, stats, category(step), name) for step, name in zip(steps, step_names(steps))]
    print("READY", flush=True)
    for line in sys.stdin:
        cmd, *args = line.split()
        try:
            if cmd == "round":
                clips, seed = int(args[0]), int(args[1])
                ds = _Samples(samples, timed, clips)
                print("ROUND " + json.dumps(run_round(ds.__getitem__, clips, seed, stats)), flush=True)
            elif cmd == "loader":
                workers, clips, seed = (int(a) for a in args)
                result = run_loader(_Samples(samples, steps, clips), workers, clips, seed, _first)
                print("LOADER " + json.dumps(result), flush=True)
            else:
                break
        except Exception as exc:  # noqa: BLE001
            print(f"FAIL {type(exc).__name__}: {' '.join(str(exc).split())}", flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
