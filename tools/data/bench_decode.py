"""Benchmark: seeking decode vs decoding every frame, on a generated video.

    python tools/data/bench_decode.py [--frames 300] [--size 224] [--gop 16] [--indices 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

from kinetix.data.decoding import VideoReader
from kinetix.data.synthetic import write_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--gop", type=int, default=16)
    parser.add_argument("--indices", type=int, default=8, help="sparse frames per clip (TSN-style)")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    # A moving gradient plus noise: realistic enough that P/B frames are not empty.
    base = np.linspace(0, 255, args.size, dtype=np.float32)[None, :, None].repeat(args.size, 0).repeat(3, 2)
    frames = [np.clip(np.roll(base, 3 * i, axis=1) + rng.normal(0, 10, base.shape), 0, 255).astype(np.uint8)
              for i in range(args.frames)]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.mp4")
        write_video(path, frames, fps=25, gop=args.gop)
        seg = args.frames / args.indices
        inds = (np.arange(args.indices) * seg + seg / 2).astype(int)  # TSN test sampling

        def run(mode: str) -> tuple[float, float]:
            times, decoded = [], []
            for _ in range(args.repeats):
                start = time.perf_counter()
                reader = VideoReader(path)
                if mode == "all":
                    every = reader.decode_all()
                    _ = [every[i] for i in inds]
                else:
                    reader.get_frames(inds, seek=mode == "seek")
                reader.close()
                times.append(time.perf_counter() - start)
                decoded.append(reader.frames_decoded)
            return 1000 * float(np.median(times)), float(np.mean(decoded))

        seek_ms, seek_n = run("seek")
        seq_ms, seq_n = run("sequential")
        full_ms, full_n = run("all")
    print(f"video: {args.frames} frames {args.size}x{args.size}, gop {args.gop}; "
          f"{args.indices} indices {inds.tolist()}")
    print(f"seeking decode : {seek_ms:7.1f} ms/clip ({seek_n:.0f} frames decoded)")
    print(f"from the start : {seq_ms:7.1f} ms/clip ({seq_n:.0f} frames decoded, only wanted ones "
          f"converted to RGB)")
    print(f"decode all     : {full_ms:7.1f} ms/clip ({full_n:.0f} frames decoded and converted)")
    print(f"speed-up       : {seq_ms / seek_ms:.1f}x vs from the start, {full_ms / seek_ms:.1f}x vs all")


if __name__ == "__main__":
    main()
