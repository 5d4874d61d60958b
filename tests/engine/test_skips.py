"""SkipLog (each skipped video warned about once, listed in a file) and report_missing."""

import logging

import pytest

from kinetix.engine.logs import LOGGER_NAME
from kinetix.engine.skips import SkipLog, report_missing


@pytest.fixture
def warnings_logged(caplog):
    logger = logging.getLogger(LOGGER_NAME)
    propagate, logger.propagate = logger.propagate, True  # setup_logger turns it off
    caplog.set_level(logging.WARNING, LOGGER_NAME)
    yield lambda: [r.getMessage() for r in caplog.records if r.name == LOGGER_NAME]
    logger.propagate = propagate


def batch(*pairs):
    return {"skipped": [name for name, _ in pairs], "skip_reasons": [why for _, why in pairs]}


def test_each_video_is_warned_about_once_and_listed(tmp_path, warnings_logged):
    path = tmp_path / "bad_videos.txt"
    log = SkipLog(path, write_every=0)
    assert log.note(batch(("b.mp4", "cut short"), ("a.mp4", "not a regular file"))) == \
        {"b.mp4": "cut short", "a.mp4": "not a regular file"}
    assert path.read_text() == "a.mp4\tnot a regular file\nb.mp4\tcut short\n"  # written as it goes, sorted
    log.note(batch(("a.mp4", "not a regular file")))  # the next epoch, another worker: no new warning
    log.merge({"a.mp4": "not a regular file", "c.mp4": "decode timed out after 60 s"})  # from other ranks
    assert warnings_logged() == ["skipping undecodable b.mp4: cut short",
                                 "skipping undecodable a.mp4: not a regular file",
                                 "skipping undecodable c.mp4: decode timed out after 60 s"]
    assert path.read_text().splitlines()[-1] == "c.mp4\tdecode timed out after 60 s"


def test_between_gathers_the_list_is_rewritten_at_most_every_few_seconds(tmp_path):
    path = tmp_path / "bad_videos.txt"
    log = SkipLog(path, write_every=3600)
    log.note(batch(("a.mp4", "why")))
    assert not path.exists()
    log.merge({})  # a gather writes what is pending
    assert path.read_text() == "a.mp4\twhy\n"


def test_a_fresh_run_starts_the_list_afresh_and_a_resumed_one_continues_it(tmp_path, warnings_logged):
    path = tmp_path / "bad_videos.txt"
    path.write_text("old.mp4\tcut short\n")
    resumed = SkipLog(path, resume=True, write_every=0)
    resumed.note(batch(("old.mp4", "cut short"), ("new.mp4", "why")))
    assert warnings_logged() == ["skipping undecodable new.mp4: why"]  # old.mp4 was warned about before
    assert path.read_text() == "new.mp4\twhy\nold.mp4\tcut short\n"
    SkipLog(path)
    assert not path.exists()  # a clean fresh run leaves no list of an earlier run


class Listed:
    def __init__(self, missing):
        self.missing = missing


def test_missing_files_get_one_line_per_list_and_a_file(tmp_path, warnings_logged):
    path = tmp_path / "missing_videos.txt"
    train = Listed([(f"/d/v{i}.mp4", f"/d/train.txt:{i + 1}") for i in range(5)])
    val = Listed([("/d/w.mp4", "/d/val.txt:7")])
    assert report_missing([train, val, object()], path) == 6
    lines = warnings_logged()
    assert len(lines) == 2
    assert lines[0].startswith("5 file(s) listed in /d/train.txt do not exist and are left out")
    assert "/d/v0.mp4, /d/v1.mp4, /d/v2.mp4, ..." in lines[0] and "v3" not in lines[0]
    assert str(path) in lines[0] and "on_missing='error'" in lines[0]
    assert path.read_text().splitlines() == [f"/d/v{i}.mp4\t/d/train.txt:{i + 1}" for i in range(5)] + \
        ["/d/w.mp4\t/d/val.txt:7"]
    assert report_missing([Listed([])], path) == 0 and not path.exists()  # nothing stale left
