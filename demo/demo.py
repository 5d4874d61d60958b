"""Recognise the action in one video: python demo/demo.py VIDEO CONFIG CHECKPOINT LABEL_FILE [options]

MMAction2's demo arguments. Prints the top-5 classes with their scores; with
``--out-filename out.gif`` or ``out.mp4`` also writes the video with them drawn
on every frame. VIDEO is a video file, or a folder of frames (``img_00001.jpg``
...) for a rawframes config. LABEL_FILE has one class name per line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Sequence


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", help="video file, or rawframes folder")
    parser.add_argument("config", help="test config file")
    parser.add_argument("checkpoint", help="checkpoint file or URL ('none': random weights, for timing)")
    parser.add_argument("label", help="label file: one class name per line")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override config keys, e.g. model.cls_head.num_classes=8")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda:0 if there is one, else cpu)")
    parser.add_argument("--fps", type=float, default=30,
                        help="frame rate of the output for a rawframes folder (a video keeps its own)")
    parser.add_argument("--font-scale", type=float, default=None, help="text size relative to the default (1.0)")
    parser.add_argument("--font-color", default="white", help="text colour: a name or #rrggbb")
    parser.add_argument("--target-resolution", nargs=2, type=int, default=None, metavar=("W", "H"),
                        help="resize the output frames; -1 for one of them keeps the aspect ratio")
    parser.add_argument("--out-filename", default=None, help="write the annotated video here (.gif or .mp4)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, float]:
    """Returns the seconds each stage took."""
    start = time.perf_counter()
    import torch

    from kinetix.apis import inference_recognizer, init_recognizer
    from kinetix.apis.annotate import OUTPUT_SUFFIXES, frames_with_text, read_frames, write_video
    from kinetix.config import parse_cfg_options
    from kinetix.engine.labels import check_class_count, read_label_file
    from kinetix.errors import ConfigError, DataError

    if args.out_filename and not args.out_filename.lower().endswith(OUTPUT_SUFFIXES):
        raise ConfigError(f"--out-filename {args.out_filename}: must end in .gif or .mp4")
    if not os.path.exists(args.video):
        raise DataError(f"{args.video}: no such video file or frame folder")
    labels = read_label_file(args.label, "label file")
    device = args.device or ("cuda:0" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: this machine has no CUDA device; use --device cpu")
    checkpoint = None if args.checkpoint.lower() == "none" else args.checkpoint
    times = {"imports": time.perf_counter() - start}
    start = time.perf_counter()
    model = init_recognizer(args.config, checkpoint, device, parse_cfg_options(args.cfg_options))
    num_classes = getattr(getattr(model, "cls_head", None), "num_classes", None)
    if isinstance(num_classes, int):
        check_class_count(labels, num_classes, f"label file {args.label}")
    video = args.video
    if os.path.isdir(video):  # a frame folder: the rawframes pipeline reads img_{:05}.jpg from 1
        count = len([f for f in os.listdir(video) if f.lower().endswith((".jpg", ".jpeg", ".png"))])
        video = dict(frame_dir=video, total_frames=count, start_index=1, filename_tmpl="img_{:05}.jpg",
                     modality="RGB", label=-1)
    times["model"], start = time.perf_counter() - start, time.perf_counter()
    result = inference_recognizer(model, video)
    times["inference"], start = time.perf_counter() - start, time.perf_counter()
    top5 = [(labels[i] if i < len(labels) else str(i), score) for i, score in result.topk(5)]
    print("The top-5 labels with corresponding scores are:")
    for name, score in top5:
        print(f"{name}: {score:.4f}")
    if args.out_filename:
        frames, fps = read_frames(args.video, args.target_resolution)
        lines = [f"{name}: {score:.2f}" for name, score in top5]
        write_video(list(frames_with_text(frames, lines, args.font_scale, args.font_color)),
                    args.out_filename, fps or args.fps)
        print(f"Wrote {args.out_filename} ({len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]})")
        times["writing"] = time.perf_counter() - start
    return times


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    from kinetix.errors import KinetixError
    try:
        times = run(args)
    except KinetixError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    stages = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in times.items())
    print(f"Done in {time.perf_counter() - start:.2f} s ({stages})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
