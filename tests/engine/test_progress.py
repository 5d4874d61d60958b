"""Training's progress bar: drawn on a terminal, never in the log file or a pipe."""

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import torch

from kinetix.engine.inference import predict
from kinetix.engine.logs import setup_logger
from kinetix.utils.progress import progress_bar, progress_enabled

REPO = Path(__file__).resolve().parents[2]
TSM = REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_enabled_only_on_a_terminal_unless_forced(monkeypatch):
    monkeypatch.delenv("KINETIX_PROGRESS", raising=False)
    assert progress_enabled(FakeTerminal()) and not progress_enabled(io.StringIO())
    monkeypatch.setenv("KINETIX_PROGRESS", "0")
    assert not progress_enabled(FakeTerminal())
    stream = io.StringIO()
    for _ in progress_bar(range(3), file=stream):
        pass
    assert stream.getvalue() == ""
    monkeypatch.setenv("KINETIX_PROGRESS", "1")
    assert progress_enabled(io.StringIO())


def run_on_terminal(command: list[str], env: dict) -> tuple[int, str]:
    """Run ``command`` with stdout and stderr on a pseudo-terminal 120 columns wide."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = subprocess.Popen(command, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return process.wait(timeout=120), b"".join(chunks).decode(errors="replace")


@pytest.mark.skipif(sys.platform != "linux", reason="pseudo-terminal semantics of Linux")
def test_training_on_a_terminal_draws_a_bar_and_keeps_the_log_clean(synthetic_options, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KINETIX_PROGRESS"}
    env["PYTHONPATH"] = str(REPO)
    work = tmp_path / "work"
    code, screen = run_on_terminal([sys.executable, str(REPO / "tools/train.py"), str(TSM), "--work-dir", str(work),
                                    "--cfg-options", *synthetic_options(epochs=2, batch_size=8),
                                    "default_hooks.logger.interval=2"], env)
    assert code == 0, screen[-2000:]
    assert re.search(r"Epoch 1/2: +\d+%\|.*\| \d/4 \[.*run eta \d+:\d\d:\d\d\]", screen), screen[-2000:]
    assert re.search(r"Epoch 2/2: +100%\|", screen)
    # Log lines printed above the bar start on a line of their own.
    assert re.search(r"\r(\x1b\[A)?2\S+ \S+ - kinetix - INFO - Epoch\(train\) \[2\]\[4/4\]", screen)
    log = next(work.glob("*/*.log")).read_text()
    assert "\r" not in log and "%|" not in log and "run eta" not in log
    assert re.search(r"Epoch\(train\) \[1\]\[2/4\]  lr: \S+  eta: \d+:\d\d:\d\d  time: ", log)


class _Zeros(torch.nn.Module):
    def forward(self, batch: dict, mode: str) -> torch.Tensor:
        return torch.zeros(len(batch["inputs"]), 4)


class _Loader(list):
    batch_size = 2


def _batch(first: int, skipped: list[str]) -> dict:
    return {"inputs": torch.zeros(2, 3), "indices": torch.tensor([first, first + 1]), "labels": torch.tensor([0, 1]),
            "skipped": skipped, "skip_reasons": ["moov atom not found"] * len(skipped)}


def test_log_lines_of_a_test_print_above_its_bar(monkeypatch):
    # On a terminal, log lines (stdout) and the bar (stderr) share one screen. A warning logged
    # while the test bar is drawn (a skipped video) starts on a line of its own (tqdm clears the
    # bar with a carriage return first), and the bar goes on below it.
    screen = io.StringIO()
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setattr(sys, "stderr", screen)
    monkeypatch.setenv("KINETIX_PROGRESS", "1")
    setup_logger(None)
    try:
        preds = predict(_Zeros(), _Loader([_batch(0, []), _batch(2, ["bad.mp4"]), _batch(4, [])]),
                        torch.device("cpu"), progress=True)
    finally:
        monkeypatch.undo()
        setup_logger(None)
    text = screen.getvalue()
    assert len(preds.indices) == 6
    line = re.search(r"(.)\S+ \S+ - kinetix - WARNING - skipping undecodable bad\.mp4", text, re.S)
    assert line and line.group(1) == "\r", repr(text[-600:])
    assert re.search(r"WARNING - skipping undecodable bad\.mp4: moov atom not found\n.*test:", text, re.S)
