"""Config warnings reach the user as one log line: on the console and in the run's log file."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TSM = REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py"
LINE = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d - kinetix - WARNING - "
                  r"config: log_level: used only by mmengine; kinetix ignores it$")


def test_config_warning_is_one_log_line(synthetic_options, tmp_path):
    config = tmp_path / "mmengine_key.py"
    config.write_text(f"_base_ = {str(TSM)!r}\nlog_level = 'INFO'\n")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(REPO / "tools/train.py"), str(config), "--work-dir",
                           str(tmp_path / "work"), "--cfg-options", *synthetic_options(epochs=1, batch_size=8)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert [line for line in output.splitlines() if "log_level" in line and LINE.match(line)], output[-3000:]
    assert sum("log_level" in line for line in output.splitlines()) == 1
    assert "%|" not in output and "\r" not in output  # no progress bar where no terminal watches
    assert "UserWarning" not in output and "config_check.py" not in output and "warn_mmengine_only" not in output
    # The log file opens after the config is checked; the warning is copied into it.
    log = next((tmp_path / "work").glob("*/*.log")).read_text().splitlines()
    assert LINE.match(log[0]), log[:3]


def test_early_config_warnings_once_per_job_and_kept_for_the_log_file(tmp_path, monkeypatch, capsys):
    import logging
    import warnings

    from kinetix.engine.logs import setup_logger
    from kinetix.errors import warn_config
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        # An earlier test's logger may have left logging believing it captures warnings
        # while pytest has put its own showwarning back: start from neither.
        logging.captureWarnings(False)
        monkeypatch.setenv("RANK", "1")  # before the process group exists, the launcher's word
        setup_logger(None, keep_early=True)
        warn_config("a.b", "said by rank 0 only")
        assert capsys.readouterr().out == ""
        monkeypatch.setenv("RANK", "0")
        setup_logger(None, keep_early=True)
        warn_config("a.c", "kept")
        assert capsys.readouterr().out.endswith(" - kinetix - WARNING - config: a.c: kept\n")
        setup_logger(tmp_path / "run.log")
        assert (tmp_path / "run.log").read_text().endswith(" - kinetix - WARNING - config: a.c: kept\n")
    logging.captureWarnings(False)
