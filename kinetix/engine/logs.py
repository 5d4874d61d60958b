"""Run logs: MMAction2-style text lines on the console and in a file, scalars as JSON lines.

Only rank 0 writes the log file and the scalars; other ranks print warnings
and errors only, so a multi-process run reads like a single one.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

from tqdm.contrib.logging import logging_redirect_tqdm

from kinetix.dist import get_rank
from kinetix.errors import ConfigWarning
from kinetix.utils.progress import progress_enabled

LOGGER_NAME = "kinetix"


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


@contextlib.contextmanager
def logs_above_bars() -> Iterator[None]:
    """While a progress bar may be on a terminal, console log lines (and warnings) go
    through tqdm, which prints them above the bar instead of through it. Log files and
    consoles that are not terminals (no bar) are untouched."""
    if not progress_enabled():
        yield
        return
    with logging_redirect_tqdm(loggers=[get_logger(), logging.getLogger("py.warnings")]):
        yield


class _EarlyRecords(logging.Handler):
    """Keeps what was logged before the run's log file existed, to copy into it."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def setup_logger(log_file: Path | None, keep_early: bool = False) -> logging.Logger:
    """Console (and, on rank 0, file) handlers for the ``kinetix`` logger.

    ``keep_early``: a console-only logger for the first steps of a run (loading
    and checking the config), whose lines are copied into the log file when a
    later call opens it.
    """
    logger = get_logger()
    early: list[logging.LogRecord] = []
    for handler in list(logger.handlers):
        if isinstance(handler, _EarlyRecords):
            early = handler.records
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False
    # Before the process group exists (keep_early), the launcher's RANK says who we are.
    rank = int(os.environ.get("RANK", "0") or 0) if keep_early else get_rank()
    # Early lines (config warnings) are the same on every rank: rank 0 says them once.
    logger.setLevel(logging.INFO if rank == 0 else logging.ERROR if keep_early else logging.WARNING)
    # Other ranks print only warnings and errors; say whose they are, since the
    # launcher interleaves every rank's output.
    who = f"[rank {rank}] " if rank else ""
    formatter = logging.Formatter(f"%(asctime)s - kinetix - %(levelname)s - {who}%(message)s",
                                  datefmt="%Y/%m/%d %H:%M:%S")
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(formatter)
    logger.addHandler(console)
    if log_file is not None and rank == 0:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file)
        file_handler.setFormatter(formatter)
        for record in early:
            file_handler.handle(record)
        logger.addHandler(file_handler)
    if keep_early:
        logger.addHandler(_EarlyRecords())
    # Python warnings (undecodable videos, ignored config keys) go to the same
    # places, as one line each rather than with the source line that raised them.
    warnings.formatwarning = one_line_warning
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.handlers = logger.handlers
    warnings_logger.propagate = False
    warnings_logger.setLevel(max(logger.level, logging.WARNING))
    return logger


def one_line_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    """``Category: message``, without the source line that raised it; ``config: key: message``
    for config keys (what the user reads is the key, not a Python class)."""
    if issubclass(category, ConfigWarning):
        return f"config: {message}"
    return f"{category.__name__}: {message}"


def format_value(key: str, value: Any) -> str:
    if key == "lr":
        return f"{value:.4e}"
    if key == "eta":
        return str(datetime.timedelta(seconds=int(value)))
    if key == "memory":
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def format_line(prefix: str, values: Mapping[str, Any]) -> str:
    """``Epoch(train) [1][20/100]  lr: 1.0000e-02  eta: 0:12:01  ...``"""
    return "  ".join([prefix, *(f"{k}: {format_value(k, v)}" for k, v in values.items())])


class ScalarWriter:
    """Appends one JSON object per line: ``{"lr": ..., "loss": ..., "epoch": 1, "iter": 20, "step": 20}``."""

    def __init__(self, path: Path | None) -> None:
        self.path = path if get_rank() == 0 else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, values: Mapping[str, Any]) -> None:
        if self.path is None:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps({k: _plain(v) for k, v in values.items()}) + "\n")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
