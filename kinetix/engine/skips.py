"""Videos a run could not use: warned about once, and listed in the work dir.

Two lists, one line per video, written by rank 0:

* ``bad_videos.txt``: ``path<TAB>reason`` for every video that was skipped
  (undecodable, not a regular file, decode timed out), kept up to date as the
  run goes;
* ``missing_videos.txt``: ``path<TAB>ann_file:line`` for every listed video (or
  frame folder) that did not exist at start-up and was left out.

A training run (its train and val sets) writes those names; a test run writes
``bad_videos_test.txt`` and ``missing_videos_test.txt``, so testing in the work
dir of a training run does not replace that run's lists. A fresh run starts
its lists afresh (a stale list from an earlier run is removed); a resumed
training run continues the bad-video list of the run it resumes.
"""

from __future__ import annotations

import time
from itertools import repeat
from pathlib import Path
from typing import Any, Iterable, Mapping

from kinetix.dist import get_rank
from kinetix.engine.checkpoint import write_atomic
from kinetix.engine.logs import get_logger

# The names the lists take in the work dir, by kind of run.
LIST_NAMES = {"train": ("bad_videos.txt", "missing_videos.txt"),
              "test": ("bad_videos_test.txt", "missing_videos_test.txt")}


class SkipLog:
    """Skipped videos of one run; each named in one warning, by rank 0.

    DataLoader workers only report skips (in their batches), so a video is not
    named again per worker, per epoch or per evaluation. In a distributed run
    each rank notes its own skips; they reach every rank at the gathers (end of
    each training epoch and of each evaluation), where rank 0 warns about the
    ones it has not met itself, so every warning is in rank 0's log file.

    Rank 0 rewrites ``path`` atomically when it learns of new skips: at once
    at each gather, and at most every ``write_every`` seconds in between (a
    set with many bad videos would otherwise be rewritten once per video).
    ``resume``: keep the entries ``path`` already lists (the run goes on).
    """

    def __init__(self, path: Path | None = None, resume: bool = False, write_every: float = 10.0) -> None:
        self.path = Path(path) if path is not None and get_rank() == 0 else None
        self.reasons: dict[str, str] = {}  # every skipped video this rank knows of -> why
        self.write_every = write_every
        self._written_at = time.monotonic()
        self._dirty = False
        if self.path is not None:
            if resume and self.path.is_file():
                self.reasons.update(_read_list(self.path))
            elif not resume:
                self.path.unlink(missing_ok=True)  # an earlier run's list would mislead

    def note(self, batch: Mapping[str, Any]) -> dict[str, str]:
        """Record the batch's skipped videos (rank 0 warns about new ones); return them, name -> reason."""
        names = list(batch.get("skipped", []))
        found = dict(zip(names, batch.get("skip_reasons") or repeat("")))
        self._add(found)
        if self._dirty and time.monotonic() - self._written_at >= self.write_every:
            self._write()
        return found

    def merge(self, gathered: Mapping[str, str]) -> None:
        """Add skips gathered from every rank (call it on every rank) and write the list."""
        self._add(gathered)
        self._write()

    def _add(self, found: Mapping[str, str]) -> None:
        for name, reason in found.items():
            if name not in self.reasons:
                self.reasons[name] = reason
                self._dirty = True
                if get_rank() == 0:
                    get_logger().warning(f"skipping undecodable {name}: {reason}")

    def _write(self) -> None:
        if self.path is not None and self._dirty:
            write_atomic(self.path, "".join(f"{name}\t{why}\n" for name, why in sorted(self.reasons.items())))
        self._dirty = False
        self._written_at = time.monotonic()


def _read_list(path: Path) -> dict[str, str]:
    entries = {}
    for line in path.read_text(errors="replace").splitlines():
        if line.strip():
            name, _, why = line.partition("\t")
            entries[name] = why
    return entries


def report_missing(datasets: Iterable[Any], path: Path | None) -> int:
    """Rank 0: one warning per annotation list that names files which do not exist, and
    the whole list in ``path``; a stale list of an earlier run is removed. Returns the count."""
    entries = [entry for dataset in datasets for entry in getattr(dataset, "missing", None) or []]
    if get_rank() != 0:
        return len(entries)
    by_list: dict[str, list[str]] = {}
    for name, where in entries:
        by_list.setdefault(where.rpartition(":")[0], []).append(name)
    listed = f"; all listed in {path}" if path is not None else ""
    for ann_file, names in by_list.items():
        first = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        get_logger().warning(f"{len(names)} file(s) listed in {ann_file} do not exist and are left out "
                             f"(dataset.on_missing='error' makes this fatal): {first}{listed}")
    if path is not None:
        if entries:
            write_atomic(path, "".join(f"{name}\t{where}\n" for name, where in entries))
        else:
            Path(path).unlink(missing_ok=True)
    return len(entries)
