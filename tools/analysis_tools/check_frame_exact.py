"""Does each video backend return the frames it is asked for? A table per backend and kind of file.

    PYTHONPATH=$PWD python tools/analysis_tools/check_frame_exact.py [--backends pyav,torchcodec,decord]
        [--kinds kinetics,edit_list,...] [--out-dir DIR]

It writes one small video of each tricky kind (kinetix/data/tricky_videos.py:
open GOPs, HEVC CRA, VP9, VFR, edit lists, MPEG-TS, AVI...) with the frame number
drawn into every frame, takes a full sequential PyAV decode as the ground truth,
then asks each backend for the frames of TSN/I3D train and test sampling, random
sets, repeats, descending order and every frame, one fresh reader per query as a
sample opens one. A frame is wrong when its drawn number is not the truth's; a
query that raises counts all its frames as wrong. A backend that is not installed
is listed as such. Exits 1 if any backend returned a wrong frame.
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import warnings

from kinetix.data.tricky_videos import (KINDS, available_kinds, check_frame_exact, decode_numbers,
                                        index_queries, write_tricky_videos)
from kinetix.data.video_backends import BACKENDS, open_video, unusable_reason


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"comma-separated, from {', '.join(BACKENDS)} (default: all)")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help="comma-separated kinds of video (default: all this PyAV can encode)")
    parser.add_argument("--out-dir", help="keep the videos here (default: a temporary directory)")
    args = parser.parse_args(argv)
    args.backends = [b for b in args.backends.split(",") if b]
    args.kinds = [k for k in args.kinds.split(",") if k]
    for value, known, flag in ([(b, BACKENDS, "--backends") for b in args.backends]
                               + [(k, tuple(KINDS), "--kinds") for k in args.kinds]):
        if value not in known:
            parser.error(f"{flag}: unknown {value!r} (use one of {', '.join(known)})")
    return args


def _quiet_decord() -> None:
    """decord's FFmpeg prints a line per damaged reference ('mmco: unref short failure'): keep the table readable."""
    if unusable_reason("decord") is None:
        import decord

        decord.logging.set_level(decord.logging.QUIET)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _quiet_decord()
    kinds = [k for k in args.kinds if k in available_kinds()]
    for kind in sorted(set(args.kinds) - set(kinds)):
        print(f"skipped kind {kind}: this PyAV has no {KINDS[kind].codec} encoder")
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_tricky_videos(args.out_dir or tmp, kinds)
        truths = {kind: decode_numbers(path) for kind, path in paths.items()}
        header = f"{'backend':<11} {'kind':<14} {'queries':>7} {'frames':>7} {'wrong':>6}  total_frames"
        print(header + "\n" + "-" * len(header))
        errors, any_wrong = [], False
        for backend in args.backends:
            reason = unusable_reason(backend)
            if reason is not None:
                print(f"{backend:<11} not installed: {reason}")
                continue
            open_reader = functools.partial(open_video, backend=backend)
            for kind, path in paths.items():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    result = check_frame_exact(open_reader, path, truths[kind], index_queries(len(truths[kind])))
                any_wrong |= result.wrong > 0 or not result.total_frames_right
                right = "right" if result.total_frames_right else "WRONG"
                print(f"{backend:<11} {kind:<14} {result.queries:>7} {result.frames:>7} {result.wrong:>6}  {right}")
                if result.error:
                    errors.append(f"{backend} {kind}: {result.error}")
        for line in errors:
            print(f"first error of {line}")
        print("kinds: " + "; ".join(f"{kind}: {KINDS[kind].what}" for kind in paths))
    return 1 if any_wrong else 0


if __name__ == "__main__":
    sys.exit(main())
