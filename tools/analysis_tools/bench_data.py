"""Benchmark: a config's data pipeline, one process, one thread, in CPU time; optionally
side by side with MMAction2's own pipeline on the same videos.

    python tools/analysis_tools/bench_data.py CONFIG [--split train|test] [--clips N] [--rounds 6]
        [--workers N] [--against-mmaction2 PYTHON [--mmaction2-data-root DIR]] [--cfg-options k=v ...]

Runs the pipeline of ``{split}_dataloader.dataset`` over ``--clips`` samples (default:
every video of the list once) per round and prints, as medians of the rounds:

* clips/s: samples through the whole pipeline per CPU-second (a multi-clip test
  sample counts once);
* frames decoded per clip, and how many of them the clip uses;
* the split of the time between decode, convert (decoded frame to RGB), resize
  (Resize, RandomRescale) and the rest (sampling, crops, flips, formatting), and
  the time of each step.

Each side's pipeline is timed as it ships. Both end with the frames stacked once
and a transposed view of them; the copy into a batch comes later on both sides
(kinetix's collate, MMAction2's data preprocessor) and is not counted.

``--against-mmaction2 PYTHON`` (a Python with MMAction2 installed, see
make_mmaction2_venv.sh) runs MMAction2's transforms, built from the same
pipeline, on the same videos, in rounds interleaved with kinetix's, and prints
the ratio. decord converts to RGB inside its decode, so MMAction2's convert
share is part of its decode. ``--mmaction2-data-root DIR`` has MMAction2 read
the same list from DIR: kinetix on videos made by prepare_videos.py against
MMAction2 on their originals. ``--workers N`` adds wall-clock clips/s through a
DataLoader with N worker processes (after its first batch).

The configs in configs/benchmarks/ hold MMAction2's standard pipelines for the
corpus made by tools/data/make_bench_corpus.py.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Iterator

import numpy as np

import bench_data_driver as driver  # this script's folder is on sys.path
from kinetix.config import apply_cfg_options, load_config, parse_cfg_options
from kinetix.data import build_dataloader, build_dataset, decoding
from kinetix.errors import ConfigError, KinetixError
from kinetix.utils.imports import import_custom_modules

SHARES = ("decode", "convert", "resize", "rest")


class BenchError(KinetixError):
    """The comparison side cannot run (no such Python, no MMAction2 in it, it failed)."""


# ---------------------------------------------------------------- kinetix's side
class DecodeProbe:
    """Counts the frames the reader decoded for a sample, and the distinct frames it wanted.

    The reader lives in ``results['video_reader']`` from Init to Decode; its
    ``frames_decoded`` is read once the step that consumes it has run.
    """

    def __init__(self, step: Any, stats: dict) -> None:
        self.step, self.stats = step, stats

    def __call__(self, results: dict) -> dict:
        reader = results.get("video_reader")
        wanted = results.get("frame_inds")
        out = self.step(results)
        if reader is not None and wanted is not None and "video_reader" not in out:
            count = getattr(reader, "frames_decoded", None)
            if count is not None:
                self.stats["frames_decoded"] = self.stats.get("frames_decoded", 0) + count
                self.stats["frames_used"] = self.stats.get("frames_used", 0) + len(np.unique(wanted))
                self.stats["probed"] = self.stats.get("probed", 0) + 1
        return out


@contextlib.contextmanager
def timed_convert(stats: dict) -> Iterator[bool]:
    """Time ``VideoReader._rgb`` (one decoded frame to RGB); yields False if there is none."""
    original = getattr(decoding.VideoReader, "_rgb", None)
    if original is None:
        yield False
        return

    def rgb(self: Any, frame: Any) -> Any:
        start = time.process_time()
        try:
            return original(self, frame)
        finally:
            stats["convert"] = stats.get("convert", 0.0) + time.process_time() - start

    decoding.VideoReader._rgb = rgb
    try:
        yield True
    finally:
        decoding.VideoReader._rgb = original


def instrument(dataset: Any, stats: dict) -> None:
    """Wrap every pipeline step in a timer (decode steps also in a frame counter)."""
    pipeline = list(dataset.pipeline)
    steps = []
    for step, name in zip(pipeline, driver.step_names(pipeline)):
        kind = driver.category(step)
        inner = DecodeProbe(step, stats) if kind == "decode" else step
        steps.append(driver.TimedStep(inner, stats, kind, name))
    dataset.pipeline = steps


def kinetix_loader(section: dict, key: str, split: str, workers: int, clips: int, videos: int) -> dict:
    """Wall-clock clips/s through kinetix's own DataLoader (batch size 1), after the first batch."""
    section = copy.deepcopy(section)
    section.update(batch_size=1, num_workers=workers, persistent_workers=False)
    section["dataset"] = dict(type="RepeatDataset", times=math.ceil(clips / videos), dataset=section["dataset"])
    loader = build_dataloader(section, key, seed=0, shuffle_default=split == "train", for_eval=split == "test")
    batches = itertools.islice(iter(loader), clips)
    next(batches)
    start = time.perf_counter()
    n = sum(1 for _ in batches)
    return dict(clips=n, wall_s=time.perf_counter() - start)


# ---------------------------------------------------------------- MMAction2's side
class MMAction2Side:
    """bench_data_driver.py running in another Python, answering one command at a time."""

    def __init__(self, python: str, pipeline: list, samples: list[dict]) -> None:
        self.python = python
        self._tmp = tempfile.TemporaryDirectory(prefix="bench_data_")
        spec = os.path.join(self._tmp.name, "spec.json")
        with open(spec, "w") as f:
            json.dump(dict(pipeline=repr(pipeline), samples=samples), f)
        self._stderr = open(os.path.join(self._tmp.name, "stderr.txt"), "w+")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # not kinetix's tree
        env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_data_driver.py")
        self._proc = subprocess.Popen([python, script, spec], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self._stderr, text=True, env=env)
        self._answer("READY")

    def _answer(self, tag: str) -> dict:
        for line in self._proc.stdout:  # libraries may print chatter: skip to our tag
            if line.startswith(tag):
                return json.loads(line[len(tag):].strip() or "{}")
            if line.startswith("FAIL "):
                self.close()
                raise BenchError(f"MMAction2 side ({self.python}): {line[5:].strip()}")
        self.close()
        self._stderr.seek(0)
        last = ([ln for ln in self._stderr.read().splitlines() if ln.strip()] or ["no output"])[-1]
        raise BenchError(f"MMAction2 side ({self.python}) stopped: {last.strip()}")

    def ask(self, command: str, tag: str) -> dict:
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        return self._answer(tag)

    def close(self) -> None:
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.stdin.write("quit\n")
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._stderr.close()
        self._tmp.cleanup()


# ---------------------------------------------------------------- report
def summary(name: str, rounds: list[dict], with_convert: bool) -> dict:
    rates = [r["clips"] / r["cpu_s"] for r in rounds if r["cpu_s"] > 0]
    clips = sum(r["clips"] for r in rounds)
    cpu = sum(r["cpu_s"] for r in rounds)
    shares = {k: sum(r.get(k, 0.0) for r in rounds) for k in ("decode", "convert", "resize")}
    shares["decode"] -= shares["convert"]  # conversion runs inside the decode step
    shares["rest"] = cpu - sum(shares.values())
    rate = statistics.median(rates) if rates else float("nan")
    print(f"{name} clips/s: {rate:.2f} (median of {len(rates)} rounds: {' '.join(f'{x:.2f}' for x in rates)})")
    probed = sum(r.get("probed", 0) for r in rounds)
    if probed:
        decoded = sum(r["frames_decoded"] for r in rounds) / probed
        used = sum(r["frames_used"] for r in rounds) / probed
        print(f"{name} frames decoded per clip: {decoded:.1f} ({used:.1f} used)")
    parts = [f"{k} {1000 * shares[k] / clips:.1f} ms ({100 * shares[k] / cpu:.0f}%)" for k in SHARES
             if k != "convert" or with_convert]
    print(f"{name} time per clip: {1000 * cpu / clips:.1f} ms = " + " + ".join(parts))
    steps: dict[str, float] = {}
    for r in rounds:
        for step, spent in r.get("steps", {}).items():
            steps[step] = steps.get(step, 0.0) + spent
    print(f"{name} ms per clip by step: " + ", ".join(f"{k} {1000 * v / clips:.1f}" for k, v in steps.items()))
    skipped = sum(r.get("skipped", 0) for r in rounds)
    if skipped:
        print(f"{name} skipped samples: {skipped} of {clips} (undecodable videos; the rates include them)")
    return dict(rate=rate)


def run(args: argparse.Namespace) -> None:
    python = args.against_mmaction2
    if python and not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise BenchError(f"--against-mmaction2: no Python executable at {python}")
    cfg = load_config(args.config)
    apply_cfg_options(cfg, parse_cfg_options(args.cfg_options))
    key = f"{args.split}_dataloader"
    section = cfg.get(key)
    if not isinstance(section, dict) or not isinstance(section.get("dataset"), dict):
        raise ConfigError(f"{args.config}: {key}.dataset is missing (--split {args.split})")
    pipeline = copy.deepcopy(section["dataset"].get("pipeline"))
    import_custom_modules(cfg.get("custom_imports"))
    driver.one_thread()
    dataset = build_dataset(copy.deepcopy(section["dataset"]), f"{key}.dataset")
    if not (hasattr(dataset, "pipeline") and hasattr(dataset, "get_data_info")):
        raise ConfigError(f"{key}.dataset: bench_data needs a VideoDataset or RawframeDataset, "
                          f"got {type(dataset).__name__}")
    videos = len(dataset)
    clips = args.clips or videos
    print(f"bench_data: {args.config} --split {args.split}: {videos} videos, {clips} clips a round, "
          f"{args.rounds} rounds, one thread, CPU time", flush=True)

    stats: dict = {}
    instrument(dataset, stats)
    mm = None
    if args.against_mmaction2:
        samples = [_jsonable(dataset.get_data_info(i)) for i in range(videos)]
        if args.mmaction2_data_root:
            # The same list, MMAction2 reading it from other files: prepared videos for
            # kinetix against the originals for MMAction2.
            for sample in samples:
                rel = os.path.relpath(sample["filename"], dataset.prefix or ".")
                sample["filename"] = os.path.join(args.mmaction2_data_root, rel)
                if not os.path.isfile(sample["filename"]):
                    raise BenchError(f"--mmaction2-data-root: {sample['filename']} does not exist")
        mm = MMAction2Side(args.against_mmaction2, pipeline, samples)
    try:
        with timed_convert(stats) as with_convert:
            fetch = lambda i: dataset[i % videos]  # noqa: E731
            driver.run_round(fetch, 1, 0, stats)  # warm-up: first calls, caches
            if mm:
                mm.ask("round 1 0", "ROUND")
            ours, theirs = [], []
            for r in range(args.rounds):
                # Alternate who goes first, so neither always runs on a warmer cache.
                if mm and r % 2:
                    theirs.append(mm.ask(f"round {clips} {r}", "ROUND"))
                ours.append(driver.run_round(fetch, clips, r, stats))
                if mm and not r % 2:
                    theirs.append(mm.ask(f"round {clips} {r}", "ROUND"))
        k = summary("kinetix", ours, with_convert)
        if mm:
            m = summary("mmaction2", theirs, with_convert=False)
            print(f"ratio kinetix/mmaction2: {k['rate'] / m['rate']:.2f}")
        if args.workers:
            res = kinetix_loader(section, key, args.split, args.workers, max(clips, 2), videos)
            k_rate = res["clips"] / res["wall_s"]
            print(f"kinetix DataLoader clips/s ({args.workers} workers, wall clock): {k_rate:.2f}")
            if mm:
                res = mm.ask(f"loader {args.workers} {max(clips, 2)} 0", "LOADER")
                m_rate = res["clips"] / res["wall_s"]
                print(f"mmaction2 DataLoader clips/s ({args.workers} workers, wall clock): {m_rate:.2f}")
                print(f"ratio kinetix/mmaction2 DataLoader: {k_rate / m_rate:.2f}")
    finally:
        if mm:
            mm.close()


def _jsonable(info: dict) -> dict:
    """A sample's info dict as MMAction2's dataset would hand it to the pipeline."""
    out = {}
    for k, v in info.items():
        if k == "index":
            continue
        out[k] = v.tolist() if isinstance(v, np.ndarray) else v.item() if isinstance(v, np.generic) else v
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--split", choices=["train", "test"], default="train")
    parser.add_argument("--clips", type=int, default=0, help="samples a round (default: each video once)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--workers", type=int, default=0, help="also time a DataLoader with N workers")
    parser.add_argument("--against-mmaction2", metavar="PYTHON", help="a Python with MMAction2 installed")
    parser.add_argument("--mmaction2-data-root", metavar="DIR",
                        help="MMAction2 reads the same list from DIR (e.g. the originals of "
                             "videos made by prepare_videos.py)")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    for name in ("clips", "workers"):
        if getattr(args, name) < 0:
            parser.error(f"--{name} must not be negative")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        run(args)
    except KinetixError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
