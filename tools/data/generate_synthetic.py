"""Generate the synthetic 8-class temporal action dataset (see kinetix/data/synthetic.py).

    python tools/data/generate_synthetic.py --out data/synthetic --seed 0
"""

from __future__ import annotations

import argparse
import sys

from kinetix.data.synthetic import CLASSES, generate_synthetic
from kinetix.utils.progress import progress_bar


def _frames(text: str) -> tuple[int, int]:
    parts = text.replace("-", ",").split(",")
    try:
        low, high = (int(parts[0]), int(parts[-1]))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or MIN,MAX, got {text!r}") from None
    return low, high


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/synthetic", help="output folder (default: data/synthetic)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--videos-per-class", type=int, default=None,
                        help="train videos per class; val and test default to 1/8 and 1/4 of it")
    parser.add_argument("--train", type=int, default=None, help="train videos per class (default 64)")
    parser.add_argument("--val", type=int, default=None, help="val videos per class (default 8)")
    parser.add_argument("--test", type=int, default=None, help="test videos per class (default 16)")
    parser.add_argument("--size", type=int, default=64, help="frame width = height (even, default 64)")
    parser.add_argument("--frames", type=_frames, default=(16, 24),
                        help="video length: N or MIN,MAX frames (default 16,24)")
    parser.add_argument("--fps", type=int, default=8)
    parser.add_argument("--gop", type=int, default=8, help="keyframe interval (default 8)")
    parser.add_argument("--no-videos", action="store_true", help="write only JPEG frame folders")
    parser.add_argument("--no-rawframes", action="store_true", help="write only .mp4 videos")
    args = parser.parse_args(argv)

    per = args.videos_per_class
    train = args.train if args.train is not None else (per if per is not None else 64)
    val = args.val if args.val is not None else (max(1, per // 8) if per is not None else 8)
    test = args.test if args.test is not None else (max(1, per // 4) if per is not None else 16)
    # A bar on a terminal only (kinetix.utils.progress); cleared when done, the summary follows.
    bar = progress_bar(total=(train + val + test) * len(CLASSES), desc="generate", unit="video", leave=False)
    try:
        info = generate_synthetic(args.out, seed=args.seed, num_train=train, num_val=val, num_test=test,
                                  size=args.size, frames=args.frames, fps=args.fps, gop=args.gop,
                                  videos=not args.no_videos, rawframes=not args.no_rawframes,
                                  on_video=lambda: bar.update(1))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    print(f"wrote {sum(info['num_videos'].values())} videos ({info['total_frames']} frames, "
          f"{args.size}x{args.size}, {args.frames[0]}-{args.frames[1]} frames each) to {info['out_dir']} "
          f"in {info['seconds']:.1f} s")
    for split, n in info["num_videos"].items():
        print(f"  {split}: {n} videos ({info['videos_per_class'][split]} per class): "
              + ", ".join(info["lists"][split].values()))
    print(f"  classes: {info['out_dir']}/classes.txt ({', '.join(info['classes'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
