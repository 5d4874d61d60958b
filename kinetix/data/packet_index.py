"""The packet index of a video stream, and a small in-process cache of them.

Indexing demuxes every packet of the stream without decoding any: cheap next
to decoding, but not free (2.5-4% of a TSN training sample), and the same
videos come back every epoch. So indexes are kept, per process, keyed by the
file's path, size and modification time: a file rewritten in place is indexed
again, never served a stale index.

What the index holds, and why:

* ``frame_pts``: the pts of every frame, sorted. Frame ``i`` of the video is
  the frame with the ``i``-th smallest pts, so ``total_frames`` is exact, unlike
  container metadata, which is often missing or wrong.
* ``frame_ordinal``: for frame ``i``, the position of its packet in demux
  (decode) order. The reader uses it to tell where a seek landed, and to
  demux forward to a keyframe without decoding what lies before it.
* ``key_indices`` / ``key_seek_ts``: keyframes as frame indices, with the
  timestamp to seek to for each (its dts where known: demuxers index by dts or
  by pts, and the dts is never later than the pts, so a seek lands on the
  keyframe or before it, where the reader only has to demux forward).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PacketIndex:
    frame_pts: np.ndarray      # int64, ascending: pts of frame i
    frame_ordinal: np.ndarray  # int64: decode-order position of frame i's packet
    key_indices: np.ndarray    # int64, ascending: frame indices of keyframes
    key_seek_ts: np.ndarray    # int64: timestamp to seek to for each keyframe
    has_pts: bool              # False: frames must be counted from the start instead
    fps: float | None
    width: int
    height: int

    @property
    def total_frames(self) -> int:
        return len(self.frame_pts)

    def index_of_pts(self, pts: int | None) -> int | None:
        """Frame index of the frame (or packet) with this pts, None if it is not a frame."""
        if pts is None:
            return None
        i = int(np.searchsorted(self.frame_pts, pts))
        return i if i < len(self.frame_pts) and self.frame_pts[i] == pts else None

    def segment_start(self, index: int) -> int:
        """Position in ``key_indices`` of the keyframe whose segment holds frame ``index``;
        -1 when the frame comes before every keyframe (decode from the first packet)."""
        return int(np.searchsorted(self.key_indices, index, side="right")) - 1


class TruncatedVideo(Exception):
    """The demuxer stopped well short of the frame count the container declares."""


def build_index(container: Any, stream: Any) -> PacketIndex:
    """Demux every packet of ``stream`` (no decoding) and return its index."""
    pts_by_ordinal: list[int | None] = []
    dts_by_ordinal: list[int | None] = []
    is_frame: list[bool] = []
    is_key: list[bool] = []
    has_pts = True
    cut = 0
    for packet in container.demux(stream):
        if packet.size == 0 and packet.pts is None and packet.dts is None:
            continue  # the demuxer's final flush packet, not part of the file
        # Empty packets (AVI "drop frames") and discard-flagged ones (cut by an
        # edit list) are in the stream but never come out of the decoder.
        frame = packet.size > 0 and not packet.is_discard
        cut += (not frame) and packet.pts is not None
        if frame and packet.pts is None:
            has_pts = False
        pts_by_ordinal.append(None if packet.pts is None else int(packet.pts))
        dts_by_ordinal.append(None if packet.dts is None else int(packet.dts))
        is_frame.append(frame)
        is_key.append(frame and bool(packet.is_keyframe))
    ordinals = [o for o, f in enumerate(is_frame) if f]
    if not ordinals:
        raise ValueError("video stream has no frames")
    # A cut-off download still opens when its header comes first, but the
    # demuxer silently stops early; the header's frame count gives it away.
    declared = int(stream.frames or 0)
    readable = len(ordinals) + cut
    if declared and readable < declared - max(2, declared // 20):
        raise TruncatedVideo(f"truncated file: the container lists {declared} frames "
                             f"but only {readable} can be read")
    if has_pts:
        pts = np.array([pts_by_ordinal[o] for o in ordinals], dtype=np.int64)
        if len(np.unique(pts)) != len(pts):
            has_pts = False  # duplicate pts: frames cannot be told apart by pts
    if has_pts:
        order = np.argsort(pts, kind="stable")
        frame_pts, frame_ordinal = pts[order], np.asarray(ordinals, dtype=np.int64)[order]
        key_ordinals = [o for o in ordinals if is_key[o]]
        key_pos = np.searchsorted(frame_pts, [pts_by_ordinal[o] for o in key_ordinals])
        sort = np.argsort(key_pos)
        key_indices = key_pos[sort].astype(np.int64)
        seek_ts = [dts_by_ordinal[o] if dts_by_ordinal[o] is not None else pts_by_ordinal[o]
                   for o in key_ordinals]
        key_seek_ts = np.asarray(seek_ts, dtype=np.int64)[sort]
    else:  # frames are counted in decode order; no seeking
        frame_pts = np.arange(len(ordinals), dtype=np.int64)
        frame_ordinal = np.asarray(ordinals, dtype=np.int64)
        key_indices = key_seek_ts = np.zeros(0, dtype=np.int64)
    rate = stream.average_rate or stream.guessed_rate
    return PacketIndex(frame_pts=frame_pts, frame_ordinal=frame_ordinal, key_indices=key_indices,
                       key_seek_ts=key_seek_ts, has_pts=has_pts,
                       fps=float(rate) if rate else None,
                       width=int(stream.codec_context.width), height=int(stream.codec_context.height))


class IndexCache:
    """Least-recently-used indexes, keyed by (path, size, mtime).

    Bounded by frames, not entries: 16 bytes a frame, so the default 2 million
    frames (about 6,600 Kinetics clips of 300 frames) cost 32 MB per process.
    """

    def __init__(self, max_frames: int = 2_000_000) -> None:
        self.max_frames = max_frames
        self._frames = 0
        self._entries: OrderedDict[tuple, PacketIndex] = OrderedDict()

    @staticmethod
    def key(path: str, st: os.stat_result) -> tuple:
        return (os.path.abspath(path), st.st_size, st.st_mtime_ns)

    def get(self, key: tuple) -> PacketIndex | None:
        index = self._entries.get(key)
        if index is None:
            return None
        self._entries.move_to_end(key)
        return index

    def put(self, key: tuple, index: PacketIndex) -> None:
        old = self._entries.pop(key, None)
        self._frames += index.total_frames - (old.total_frames if old is not None else 0)
        self._entries[key] = index
        while self._frames > self.max_frames and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            self._frames -= evicted.total_frames

    def clear(self) -> None:
        self._entries.clear()
        self._frames = 0

    def __len__(self) -> int:
        return len(self._entries)


INDEX_CACHE = IndexCache()
