"""Bad input through the real command line: exit 2, one line naming the thing at fault, no traceback.

Each case builds its input and says which fragments the message must hold
(the key path, the file, file:line, the path and the OS reason) and which it
must not (a wrong blame). Nearly all of them stop before training starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
import torch

from kinetix import cli
from kinetix.config import load_config

REPO = Path(__file__).resolve().parents[1]
TSM = str(REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py")


@dataclass
class Bad:
    argv: list[str]
    expect: list[str]                      # fragments the error line must contain
    reject: list[str] = field(default_factory=list)  # fragments it must not contain (wrong blame)
    command: str = "train"


@dataclass
class Ctx:
    tmp: Path
    data: Path          # the tiny synthetic set
    opts: list[str]     # --cfg-options pointing the TSM config at it
    checkpoint: str     # a checkpoint of the small TSM model

    def train(self, *options: str, config: str = TSM, extra: tuple[str, ...] = ()) -> list[str]:
        return [config, "--work-dir", str(self.tmp / "w"), *extra, "--cfg-options", *self.opts, *options]

    def test(self, *options: str, config: str = TSM, extra: tuple[str, ...] = ()) -> list[str]:
        return [config, self.checkpoint, "--work-dir", str(self.tmp / "w"), *extra,
                "--cfg-options", *self.opts, *options]

    def annotation(self, name: str, edit: Callable[[list[str]], list[str]], split: str = "train") -> Path:
        """A copy of the tiny set's annotation list of ``split``, edited."""
        lines = (self.data / f"{split}_list_videos.txt").read_text().splitlines()
        path = self.tmp / name
        path.write_text("".join(line + "\n" for line in edit(lines)))
        return path

    def file(self, name: str, content: bytes = b"") -> Path:
        path = self.tmp / name
        path.write_bytes(content)
        return path


CASES: dict[str, Callable[[Ctx], Bad]] = {}


def case(fn: Callable[[Ctx], Bad]) -> Callable[[Ctx], Bad]:
    CASES[fn.__name__] = fn
    return fn


def option_case(name: str, option: str, *expect: str, command: str = "train") -> None:
    """A case that is one --cfg-options value, reported with its key path."""
    key = option.split("=")[0]

    def build(ctx: Ctx) -> Bad:
        argv = ctx.train(option) if command == "train" else ctx.test(option)
        return Bad(argv, [key, *expect], command=command)
    CASES[name] = build


# ---------------------------------------------------------------- values that reach a constructor
option_case("num_classes_text", "model.cls_head.num_classes=ten", "'ten'")
option_case("num_classes_zero", "model.cls_head.num_classes=0", "got 0")
option_case("num_classes_negative", "model.cls_head.num_classes=-1", "got -1")
option_case("num_classes_text_test", "model.cls_head.num_classes=ten", "'ten'", command="test")
option_case("in_channels_negative", "model.cls_head.in_channels=-8", "got -8")
option_case("depth_text", "model.backbone.depth=deep", "'deep'")
option_case("num_segments_zero", "model.backbone.num_segments=0", "got 0")
option_case("norm_eval_text", "model.backbone.norm_eval=maybe", "'maybe'")
option_case("dropout_ratio_text", "model.cls_head.dropout_ratio=high", "'high'")
option_case("lr_negative", "optim_wrapper.optimizer.lr=-1", "got -1")
option_case("lr_text", "optim_wrapper.optimizer.lr=abc", "'abc'")
option_case("weight_decay_negative", "optim_wrapper.optimizer.weight_decay=-0.1", "got -0.1")
option_case("max_epochs_text", "train_cfg.max_epochs=abc", "'abc'")
option_case("max_epochs_zero", "train_cfg.max_epochs=0", "got 0")
option_case("val_interval_text", "train_cfg.val_interval=often", "'often'")
option_case("batch_size_zero", "train_dataloader.batch_size=0", "0")
option_case("num_workers_negative", "train_dataloader.num_workers=-1", "-1")
option_case("clip_len_zero", "train_dataloader.dataset.pipeline.1.clip_len=0", "got 0")
option_case("num_clips_text", "train_dataloader.dataset.pipeline.1.num_clips=eight", "'eight'")
option_case("frame_interval_negative", "train_dataloader.dataset.pipeline.1.frame_interval=-2", "got -2")
option_case("test_clip_len_text", "test_dataloader.dataset.pipeline.1.clip_len=one", "'one'", command="test")
option_case("logger_interval_zero", "default_hooks.logger.interval=0", "got 0")
option_case("checkpoint_interval_text", "default_hooks.checkpoint.interval=daily", "'daily'")
option_case("shuffle_text", "train_dataloader.sampler.shuffle=sometimes", "'sometimes'")
option_case("ann_file_number", "train_dataloader.dataset.ann_file=5", "got 5")
option_case("model_scalar", "model=5", "got 5")
option_case("train_dataloader_scalar", "train_dataloader=5", "got 5")
option_case("optim_wrapper_list", "optim_wrapper=[1,2]", "[1, 2]")
option_case("train_cfg_text", "train_cfg=abc", "'abc'")
option_case("param_scheduler_scalar", "param_scheduler=5", "got 5")
option_case("default_hooks_scalar", "default_hooks=5", "got 5")
option_case("test_evaluator_scalar", "test_evaluator=5", "got 5", command="test")
option_case("randomness_text", "randomness=fixed", "'fixed'")


# ---------------------------------------------------------------- labels against the head
@case
def label_beyond_num_classes(ctx: Ctx) -> Bad:
    ann = ctx.annotation("train.txt", lambda lines: lines[:4] + [lines[4].rsplit(" ", 1)[0] + " 8"] + lines[5:])
    return Bad(ctx.train(f"train_dataloader.dataset.ann_file={ann}"), [f"{ann}:5", "label 8", "num_classes"])


@case
def label_beyond_num_classes_test(ctx: Ctx) -> Bad:
    ann = ctx.annotation("test.txt", lambda lines: [lines[0].rsplit(" ", 1)[0] + " 12"] + lines[1:], "test")
    return Bad(ctx.test(f"test_dataloader.dataset.ann_file={ann}"), [f"{ann}:1", "label 12", "num_classes"],
               command="test")


@case
def label_negative(ctx: Ctx) -> Bad:
    ann = ctx.annotation("train.txt", lambda lines: lines[:1] + [lines[1].rsplit(" ", 1)[0] + " -1"] + lines[2:])
    return Bad(ctx.train(f"train_dataloader.dataset.ann_file={ann}"), [f"{ann}:2", "label -1"])


# ---------------------------------------------------------------- files that cannot be read
@case
def annotation_not_utf8(ctx: Ctx) -> Bad:
    lines = (ctx.data / "train_list_videos.txt").read_bytes().splitlines(keepends=True)
    ann = ctx.file("train.txt", b"".join(lines[:2]) + b"train/caf\xe9.mp4 1\n" + b"".join(lines[2:]))
    return Bad(ctx.train(f"train_dataloader.dataset.ann_file={ann}"),
               [f"annotation file {ann}", "not UTF-8", "0xe9", "line 3"])


@case
def config_not_utf8(ctx: Ctx) -> Bad:
    cfg = ctx.file("bad.py", f"_base_ = [{TSM!r}]\n# r\xe9sum\xe9\n".encode("latin-1"))
    return Bad(ctx.train(config=str(cfg)), [f"config file {cfg}", "not UTF-8", "line 2"])


@case
def base_config_not_utf8(ctx: Ctx) -> Bad:
    base = ctx.file("base.py", b"x = '\xff'\n")
    cfg = ctx.file("child.py", f"_base_ = [{TSM!r}, 'base.py']\n".encode())
    return Bad(ctx.train(config=str(cfg)), [f"config file {base}", "not UTF-8", "line 1"])


@case
def config_is_a_directory(ctx: Ctx) -> Bad:
    (ctx.tmp / "cfg.py").mkdir()
    return Bad(ctx.train(config=str(ctx.tmp / "cfg.py")), [str(ctx.tmp / "cfg.py")])


@case
def annotation_is_a_directory(ctx: Ctx) -> Bad:
    (ctx.tmp / "list.txt").mkdir()
    return Bad(ctx.train(f"train_dataloader.dataset.ann_file={ctx.tmp / 'list.txt'}"), [str(ctx.tmp / "list.txt")])


# ---------------------------------------------------------------- work dir and output paths
@case
def work_dir_is_a_file(ctx: Ctx) -> Bad:
    path = ctx.file("work")
    return Bad(ctx.train(extra=("--work-dir", str(path))), ["--work-dir", str(path)])


@case
def work_dir_is_a_file_test(ctx: Ctx) -> Bad:
    path = ctx.file("work")
    return Bad(ctx.test(extra=("--work-dir", str(path))), ["--work-dir", str(path)], command="test")


@case
def work_dir_under_a_file(ctx: Ctx) -> Bad:
    path = ctx.file("work") / "run"
    return Bad(ctx.train(extra=("--work-dir", str(path))), ["--work-dir", str(path), "Not a directory"])


@case
def work_dir_under_proc(ctx: Ctx) -> Bad:
    return Bad(ctx.train(extra=("--work-dir", "/proc/kinetix_work")), ["--work-dir", "/proc/kinetix_work"])


@case
def work_dir_from_the_config_is_a_file(ctx: Ctx) -> Bad:
    path = ctx.file("work")
    argv = [a for a in ctx.train(f"work_dir={path}") if a not in ("--work-dir", str(ctx.tmp / "w"))]
    return Bad(argv, ["work_dir", str(path)])


@case
def work_dir_read_only(ctx: Ctx) -> Bad:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    parent = ctx.tmp / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    return Bad(ctx.train(extra=("--work-dir", str(parent / "w"))), ["--work-dir", str(parent / "w"),
                                                                   "Permission denied"])


@case
def show_dir_is_a_file(ctx: Ctx) -> Bad:
    path = ctx.file("show")
    return Bad(ctx.test(extra=("--show-dir", str(path))), ["--show-dir", str(path)], command="test")


@case
def show_dir_under_proc(ctx: Ctx) -> Bad:
    return Bad(ctx.test(extra=("--show-dir", "/proc/kinetix_show")), ["--show-dir", "/proc/kinetix_show"],
               command="test")


@case
def dump_in_a_missing_folder(ctx: Ctx) -> Bad:
    path = ctx.tmp / "nowhere" / "preds.pkl"
    return Bad(ctx.test(extra=("--dump", str(path))), ["--dump", str(path), "No such file or directory"],
               command="test")


@case
def dump_under_proc(ctx: Ctx) -> Bad:
    return Bad(ctx.test(extra=("--dump", "/proc/preds.pkl")), ["--dump", "/proc/preds.pkl"], command="test")


@case
def dump_is_a_directory(ctx: Ctx) -> Bad:
    (ctx.tmp / "preds.pkl").mkdir()
    return Bad(ctx.test(extra=("--dump", str(ctx.tmp / "preds.pkl"))), ["--dump", str(ctx.tmp / "preds.pkl")],
               command="test")


# ---------------------------------------------------------------- annotation lines
@case
def video_name_with_spaces(ctx: Ctx) -> Bad:
    ann = ctx.annotation("train.txt", lambda lines: lines[:2] + ["train/my video.mp4 3"] + lines[2:])
    return Bad(ctx.train(f"train_dataloader.dataset.ann_file={ann}"), [f"{ann}:3", "spaces"], ["bad label"])


@case
def comma_delimiter_on_a_space_separated_list(ctx: Ctx) -> Bad:
    ann = ctx.annotation("train.txt", lambda lines: lines)
    return Bad(ctx.train(f"train_dataloader.dataset.ann_file={ann}", "train_dataloader.dataset.delimiter=,"),
               [f"{ann}:1", "','"])


@case
def empty_annotation_list_test(ctx: Ctx) -> Bad:
    ann = ctx.file("test.txt", b"\n")
    return Bad(ctx.test(f"test_dataloader.dataset.ann_file={ann}"), [str(ann), "no samples"], command="test")


@case
def empty_annotation_list_train(ctx: Ctx) -> Bad:
    ann = ctx.file("train.txt")
    return Bad(ctx.train(f"train_dataloader.dataset.ann_file={ann}"), [str(ann), "no samples"])


@case
def annotation_line_without_label(ctx: Ctx) -> Bad:
    ann = ctx.annotation("train.txt", lambda lines: lines[:6] + ["train/move_left_0002.mp4"] + lines[6:])
    return Bad(ctx.train(f"train_dataloader.dataset.ann_file={ann}"), [f"{ann}:7"])


@case
def label_that_is_a_word(ctx: Ctx) -> Bad:
    ann = ctx.annotation("train.txt", lambda lines: lines[:1] + ["train/move_left_0002.mp4 left"] + lines[1:])
    return Bad(ctx.train(f"train_dataloader.dataset.ann_file={ann}"), [f"{ann}:2", "'left'"])


# ---------------------------------------------------------------- listed files that do not exist
option_case("decode_timeout_zero", "train_dataloader.dataset.decode_timeout=0", "positive number or None", "got 0")
option_case("decode_timeout_text", "test_dataloader.dataset.decode_timeout=long", "'long'", command="test")
option_case("on_missing_unknown", "train_dataloader.dataset.on_missing=ignore", "'skip', 'error'", "'ignore'")


@case
def every_listed_video_missing(ctx: Ctx) -> Bad:
    empty = ctx.tmp / "empty"
    empty.mkdir()
    ann = ctx.data / "test_list_videos.txt"
    first = ann.read_text().split()[0]
    return Bad(ctx.test(f"test_dataloader.dataset.data_prefix.video={empty}"),
               ["none of the", str(ann), "data_prefix", f"{ann}:1", str(empty / first)], command="test")


@case
def a_missing_video_with_on_missing_error(ctx: Ctx) -> Bad:
    ann = ctx.annotation("train.txt", lambda lines: lines[:4] + ["train/not_there.mp4 3"] + lines[4:])
    listed = len(ann.read_text().splitlines())
    return Bad(ctx.train(f"train_dataloader.dataset.ann_file={ann}", "train_dataloader.dataset.on_missing=error"),
               [f"1 of {listed} videos listed in {ann}", f"{ann}:5", "not_there.mp4", "on_missing='error'"])


# ---------------------------------------------------------------- --cfg-options keys
option_case("first_key_part_typo", "optim_wraper.optimizer.lr=0.5", "did you mean 'optim_wrapper'")
option_case("top_level_key_typo", "wrok_dir=elsewhere", "did you mean 'work_dir'")
option_case("nested_key_typo", "model.bakbone.depth=50", "did you mean 'model.backbone'")
option_case("option_without_value", "model.backbone.depth", "key=value")
option_case("unbalanced_brackets", "model.backbone.depth=[18,34", "unbalanced")
option_case("unknown_type", "model.backbone.type=ResNetTMS", "'ResNetTSM'")


@case
def option_into_a_missing_section(ctx: Ctx) -> Bad:
    cfg = ctx.file("no_train.py", f"_base_ = [{str(REPO / 'configs/_base_/models/tsm_r50.py')!r}]\n".encode())
    return Bad(ctx.train(config=str(cfg)), ["train_dataloader", "section"], ["persistent_workers", "did you mean"])


# ---------------------------------------------------------------- running them
@dataclass
class Outcome:
    code: int | None
    err: str
    traceback: str | None


def run_in_process(bad: Bad, capsys) -> Outcome:
    main = cli.train_main if bad.command == "train" else cli.test_main
    capsys.readouterr()
    try:
        code = main(bad.argv)
    except BaseException:  # noqa: BLE001 - an escaping exception is what we count
        return Outcome(None, capsys.readouterr().err, traceback.format_exc())
    return Outcome(code, capsys.readouterr().err, None)


def check(outcome: Outcome, bad: Bad) -> str:
    """The error line, after checking exit status 2, no traceback and the fragments."""
    if outcome.traceback or "Traceback" in outcome.err:
        last = (outcome.traceback or outcome.err).strip().splitlines()[-1]
        pytest.fail(f"TRACEBACK: {last}")
    errors = [line for line in outcome.err.splitlines() if line.startswith("error: ")]
    if outcome.code != 2:
        pytest.fail(f"EXIT {outcome.code}: {errors}")
    assert len(errors) == 1, f"MESSAGE: expected one error line, got {outcome.err!r}"
    line = errors[0]
    missing = [f for f in bad.expect if f not in line]
    wrong = [f for f in bad.reject if f in line]
    assert not missing and not wrong, f"MESSAGE: {line!r} lacks {missing} / wrongly has {wrong}"
    return line


@pytest.fixture(scope="module")
def tsm_checkpoint(tmp_path_factory, tiny_synthetic) -> str:
    """Weights of the small TSM model the synthetic options build (random, never trained)."""
    from kinetix.config import apply_cfg_options, parse_cfg_options
    from kinetix.engine.runner import build_model
    cfg = load_config(TSM)
    apply_cfg_options(cfg, parse_cfg_options(["model.backbone.base_channels=8", "model.cls_head.in_channels=64"]))
    path = tmp_path_factory.mktemp("ckpt") / "tsm.pth"
    torch.save({"state_dict": build_model(cfg, torch.device("cpu")).state_dict()}, path)
    return str(path)


@pytest.fixture
def ctx(tmp_path, tiny_synthetic, synthetic_options, tsm_checkpoint) -> Ctx:
    return Ctx(tmp_path, tiny_synthetic, synthetic_options(epochs=1, batch_size=8), tsm_checkpoint)


def test_the_suite_drives_enough_bad_inputs():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gets_one_line(name, ctx, capsys):
    bad = CASES[name](ctx)
    check(run_in_process(bad, capsys), bad)


SUBPROCESS_CASES = ["num_classes_text", "config_not_utf8", "work_dir_is_a_file", "empty_annotation_list_test",
                    "show_dir_is_a_file"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_through_the_tools_scripts(name, ctx):
    bad = CASES[name](ctx)
    script = REPO / "tools" / f"{bad.command}.py"
    proc = subprocess.run([sys.executable, str(script), *bad.argv], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    check(Outcome(proc.returncode, proc.stderr, None), bad)


# ---------------------------------------------------------------- what failed and test runs leave in the work dir
def test_failed_and_test_runs_leave_the_work_dir_config_alone(ctx, capsys):
    work = ctx.tmp / "w"
    work.mkdir()
    kept = work / Path(TSM).name
    kept.write_text("# the config of the last successful training run\n")
    for name in ("label_beyond_num_classes", "label_beyond_num_classes_test"):  # both fail after setting up
        check(run_in_process(CASES[name](ctx), capsys), CASES[name](ctx))
    assert kept.read_text() == "# the config of the last successful training run\n"
    run_copies = sorted(work.glob(f"*/{Path(TSM).name}"))
    assert len(run_copies) >= 1  # one per run folder (two runs in the same second share one)
    assert "model" in run_copies[0].read_text()


def test_a_fresh_run_into_a_work_dir_with_checkpoints_warns_and_keeps_its_config(ctx, capsys):
    work = ctx.tmp / "w"
    work.mkdir()
    for epoch in range(1, 7):
        (work / f"epoch_{epoch}.pth").write_bytes(b"another run")
    (work / "iter_40.pth").write_bytes(b"another run")
    assert cli.train_main(ctx.train("train_cfg.val_interval=1")) == 0
    out = capsys.readouterr().out
    assert f"work dir {work} holds checkpoints of another run" in out and "epoch_6.pth" in out
    assert "iter_40.pth" in out
    assert (work / "epoch_1.pth").read_bytes() != b"another run"  # what the warning announced
    assert load_config(work / Path(TSM).name)["train_cfg"]["max_epochs"] == 1
