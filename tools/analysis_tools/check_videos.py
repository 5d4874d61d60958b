"""List the videos of a config's annotation files that cannot be decoded.

    python tools/analysis_tools/check_videos.py CONFIG [--split train val test] [--workers N] [--out FILE]

Each listed video is opened and decoded to its last frame, in parallel, with
the decoder the config's pipeline uses (``video_backend`` / the Init
transform's ``backend``; PyAV unless a config asks otherwise), so a video
listed here is one a run would skip. Videos that do not exist are listed too.
The list has the format of a run's ``bad_videos.txt``: ``path<TAB>reason``,
one per line. Exit status: 0 all good, 1 some bad or missing, 2 bad input.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
from pathlib import Path

from kinetix.config import apply_cfg_options, load_config
from kinetix.config.options import parse_cfg_options
from kinetix.data import build_dataset
from kinetix.data.decoding import VideoInit
from kinetix.data.video_check import check_video
from kinetix.errors import KinetixError
from kinetix.utils.imports import import_custom_modules
from kinetix.utils.progress import progress_bar

SPLITS = ("train", "val", "test")


def _videos_of(cfg: dict, split: str) -> tuple[list[str], list[tuple[str, str]], str] | None:
    """(existing paths, [(missing path, ann_file:line)], decoder) of a split; None if the config has none."""
    loader = cfg.get(f"{split}_dataloader")
    if not loader or not loader.get("dataset"):
        return None
    key_path = f"{split}_dataloader.dataset"
    dataset = build_dataset(loader["dataset"], key_path, video_backend=cfg.get("video_backend"))
    while hasattr(dataset, "dataset") and not hasattr(dataset, "data_list"):  # RepeatDataset and co.
        dataset = dataset.dataset
    if getattr(dataset, "path_key", "filename") != "filename":
        raise KinetixError(f"{key_path}: {type(dataset).__name__} lists frame folders, not videos; "
                           f"nothing to decode")
    backend = next((step.backend for step in dataset.pipeline if isinstance(step, VideoInit)), "pyav")
    paths = [info["filename"] for info in dataset.data_list]
    return paths, list(dataset.missing), backend


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="check_videos.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="a kinetix or MMAction2 config file")
    parser.add_argument("--split", nargs="+", choices=SPLITS, default=list(SPLITS),
                        help="annotation files to check (default: every split the config has)")
    parser.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                        help="decoding processes (default: min(8, CPUs))")
    parser.add_argument("--out", type=Path, default=Path("bad_videos.txt"),
                        help="where to write the list (default: bad_videos.txt)")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override config keys, as in train.py")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers: expected a positive number, got {args.workers}")
    try:
        cfg = load_config(args.config)
        apply_cfg_options(cfg, parse_cfg_options(args.cfg_options))
        import_custom_modules(cfg.get("custom_imports"))
        jobs: dict[str, str] = {}      # path -> decoder, each video once
        bad: dict[str, str] = {}       # path -> why
        for split in args.split:
            found = _videos_of(cfg, split)
            if found is None:
                continue
            paths, missing, backend = found
            jobs.update((p, backend) for p in paths)
            bad.update((p, f"missing (listed at {where})") for p, where in missing)
        if not jobs and not bad:
            raise KinetixError(f"{args.config}: no {'/'.join(args.split)}_dataloader.dataset to check")
    except KinetixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path, why in sorted(bad.items()):
        print(f"bad: {path}: {why}", file=sys.stderr)
    bar = progress_bar(total=len(jobs), desc="check videos", unit="video")
    if args.workers == 1 or len(jobs) < 2:
        results = map(check_video, jobs.items())
        pool = None
    else:
        # spawn: a fresh interpreter per worker, no fork of a process with decoder threads.
        pool = multiprocessing.get_context("spawn").Pool(min(args.workers, len(jobs)))
        results = pool.imap_unordered(check_video, jobs.items(), chunksize=4)
    try:
        for path, why in results:
            if why is not None:
                bad[path] = why
                bar.write(f"bad: {path}: {why}", file=sys.stderr)
            bar.update(1)
    finally:
        bar.close()
        if pool is not None:
            pool.close()
            pool.join()
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(f"{p}\t{why}\n" for p, why in sorted(bad.items())))
    except OSError as exc:
        print(f"error: --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    decoded = len(jobs) - sum(p in jobs for p in bad)
    print(f"checked {len(jobs) + sum(p not in jobs for p in bad)} video(s): {decoded} decode, "
          f"{sum(p in jobs for p in bad)} undecodable, {sum(p not in jobs for p in bad)} missing; "
          f"list written to {args.out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
