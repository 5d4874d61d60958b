"""Command line: ``kinetix train CONFIG ...`` / ``kinetix test CONFIG CHECKPOINT ...``.

``tools/train.py`` and ``tools/test.py`` call :func:`train_main` and
:func:`test_main`, so the MMAction2 commands and the ``kinetix`` console
command are the same code. A user error ends the run with one line on stderr
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
import warnings
from typing import Callable, Sequence

from kinetix.errors import KinetixError


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--work-dir", help="where logs and checkpoints go "
                        "(default: cfg.work_dir, else ./work_dirs/<config stem>)")
    parser.add_argument("--cfg-options", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override config keys, e.g. train_dataloader.batch_size=8 "
                             "'optim_wrapper.optimizer.lr=0.01' 'train_dataloader.dataset.pipeline.1.clip_len=4'")
    parser.add_argument("--launcher", choices=["none", "pytorch", "slurm", "mpi"], default="none")
    # torch.distributed.launch passes --local-rank/--local_rank; torchrun sets LOCAL_RANK.
    parser.add_argument("--local-rank", "--local_rank", type=int, default=None, help=argparse.SUPPRESS)


def train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="train.py", description="Train a video recognizer")
    parser.add_argument("config", help="config file")
    _common(parser)
    parser.add_argument("--resume", nargs="?", const="auto", default=None, metavar="PATH",
                        help="resume from PATH, or alone: from the newest checkpoint in the work dir")
    parser.add_argument("--amp", action="store_true", help="mixed precision")
    parser.add_argument("--no-validate", action="store_true", help="no validation during training")
    parser.add_argument("--auto-scale-lr", action="store_true",
                        help="scale lr by world_size*batch_size/auto_scale_lr.base_batch_size")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--diff-rank-seed", action="store_true", help="seed + rank on each process")
    parser.add_argument("--deterministic", action="store_true", help="deterministic algorithms")
    return parser


def test_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="test.py", description="Test a video recognizer")
    parser.add_argument("config", help="config file")
    parser.add_argument("checkpoint", help="checkpoint file")
    _common(parser)
    parser.add_argument("--dump", help="write predictions to this .pkl (MMAction2's format) or .json file")
    parser.add_argument("--show-dir", help="write an animated GIF and a contact sheet (PNG) of every --interval-th sample here")
    parser.add_argument("--show", action="store_true", help="show the pictures in a window")
    parser.add_argument("--interval", type=int, default=1, help="visualise every N-th sample")
    parser.add_argument("--wait-time", type=float, default=2.0, help="seconds each picture is shown")
    parser.add_argument("--amp", action="store_true", help="mixed precision inference")
    return parser


def _run(body: Callable[[], object]) -> int:
    """Run ``body`` and turn its outcome into an exit status.

    In a distributed job a failing rank must not wait for the others: they
    may be blocked in a collective it will never join (a barrier here used to
    hang the job for good). It prints its error and leaves at once; the
    launcher (torchrun, mpirun, ``srun --kill-on-bad-exit``) then stops the
    other ranks, and any rank still waiting fails at the collective timeout.
    """
    # Imported here so that `--help` answers without importing torch.
    from kinetix import dist
    from kinetix.engine.env import shutdown_distributed
    from kinetix.engine.logs import one_line_warning
    # Warnings about the config come before the log is set up: one line each there too.
    warnings.formatwarning = lambda *args, **kwargs: one_line_warning(*args, **kwargs) + "\n"
    try:
        body()
    except BaseException as exc:  # noqa: BLE001 - every failure gets an exit status
        distributed = dist.is_distributed()
        code = _report(exc, f"rank {dist.get_rank()}: " if distributed else "")
        if distributed:
            _exit_now(1 if code is None else code)
        if code is None:
            raise  # a bug in a single process: its traceback is what helps
        return code
    if dist.is_distributed():
        shutdown_distributed()
        _exit_now(0)
    return 0


def _report(exc: BaseException, prefix: str) -> int | None:
    """Print ``exc`` for the user; return the exit status, or None for a bug to re-raise."""
    if isinstance(exc, KinetixError):
        print(f"error: {prefix}{_one_line(exc)}", file=sys.stderr)
        return 2
    if isinstance(exc, KeyboardInterrupt):
        print(f"{prefix}interrupted", file=sys.stderr)
        return 130
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else 1
    if _is_collective_failure(exc):
        # Another rank died, or stopped answering for longer than the timeout.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        first = re.sub(r"^\[[^\]]*\] ", "", first)  # gloo's "[/path/to/source.cc:78] " prefix
        print(f"error: {prefix}lost contact with the other processes (one failed, or a collective "
              f"waited longer than env_cfg.dist_cfg.timeout): {first}", file=sys.stderr)
        return 1
    if prefix:
        # Code of the user's own (a custom transform, hook or model): the whole traceback,
        # each line marked with the rank, since the launcher interleaves the ranks' output.
        text = "".join(traceback.format_exception(exc))
        print("".join(f"[{prefix[:-2]}] {line}\n" for line in text.splitlines()), end="", file=sys.stderr)
    return None


def _is_collective_failure(exc: BaseException) -> bool:
    """A collective that failed because a peer died or stopped answering.

    NCCL raises ``DistError``; gloo raises a plain RuntimeError from its transport.
    """
    import torch.distributed as torch_dist
    if isinstance(exc, getattr(torch_dist, "DistError", ())):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and "gloo" in text and any(
        s in text for s in ("Timed out", "Connection closed by peer", "Connection reset by peer"))


def _exit_now(code: int) -> None:
    """Flush everything and leave without running interpreter teardown.

    Teardown would join gloo's threads and DataLoader workers; after a failure
    they may be blocked on a peer that is gone. (DataLoader workers are killed
    with their parent: see ``kinetix.data.builder``.)
    """
    import gc
    import logging
    gc.collect()  # closes the DataLoader iterators that are no longer referenced
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _one_line(exc: KinetixError) -> str:
    """The message itself, also when a DataLoader worker wrapped it in its traceback."""
    text = str(exc).strip()
    if "Original Traceback" in text:
        # The worker's message ends with "kinetix.errors.DataError: <message>".
        last = text.splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return " ".join(text.split())


def _options(args: argparse.Namespace):
    from kinetix.config import parse_cfg_options
    from kinetix.engine.runner import RunOptions
    if args.local_rank is not None:
        os.environ.setdefault("LOCAL_RANK", str(args.local_rank))
    values = {k: v for k, v in vars(args).items() if k in RunOptions.__dataclass_fields__}
    values["cfg_options"] = parse_cfg_options(args.cfg_options)
    return RunOptions(**values)


def train_main(argv: Sequence[str] | None = None) -> int:
    args = train_parser().parse_args(argv)

    def body() -> None:
        from kinetix.engine.runner import train
        train(_options(args))
    return _run(body)


def test_main(argv: Sequence[str] | None = None) -> int:
    args = test_parser().parse_args(argv)

    def body() -> None:
        from kinetix.engine.runner import test
        test(_options(args))
    return _run(body)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"train": train_main, "test": test_main}
    if not argv or argv[0] not in commands:
        print("usage: kinetix {train,test} ...  (kinetix train -h for help)", file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
