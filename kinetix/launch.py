"""torchrun, with a one-line report when a rank fails.

``python -m kinetix.launch [torchrun options] SCRIPT [args]`` takes exactly
torchrun's options and runs torchrun's own agent (``torch.distributed.run``):
rendezvous, worker start, and stopping every rank when one fails are all
torchrun's. The only change: when a worker fails, torchrun's own main raises
a traceback of its internals; here the failing rank has already printed its
error, and the launcher adds one line saying which rank failed and how.
``tools/dist_train.sh`` and ``tools/dist_test.sh`` start jobs with it.
"""

from __future__ import annotations

import signal
import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        run(args)
    except ChildFailedError as exc:
        print(f"error: torchrun: {describe_failure(exc.failures)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - e.g. a rendezvous that never completes, a port in use
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"error: torchrun: {type(exc).__name__}: {first}", file=sys.stderr)
        return 1
    return 0


def describe_failure(failures: dict) -> str:
    """Which rank failed first, and how. ``failures`` maps global rank -> ProcessFailure.

    The agent stops the surviving ranks with SIGTERM, so those are listed as
    failures too; the cause is a rank that ended any other way.
    """
    def is_stopped_by_agent(failure) -> bool:
        return failure.exitcode == -signal.SIGTERM

    rank, failure = min(failures.items(), key=lambda kv: (is_stopped_by_agent(kv[1]), kv[1].timestamp, kv[0]))
    if failure.exitcode < 0:
        how = f"was killed by {signal.Signals(-failure.exitcode).name}"
    else:
        how = f"exited with status {failure.exitcode} (its error is above)"
    others = len(failures) - 1
    stopped = f"; {others} other rank(s) stopped" if others else ""
    return f"rank {rank} (local rank {failure.local_rank}, pid {failure.pid}) {how}{stopped}"


if __name__ == "__main__":
    sys.exit(main())
