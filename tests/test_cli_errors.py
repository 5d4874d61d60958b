"""Bad input stops a run with one line naming what is wrong and where, and exit status 2."""

import subprocess
import sys
from pathlib import Path


from kinetix import cli

REPO = Path(__file__).resolve().parents[1]
TSM = str(REPO / "configs/recognition/tsm/tsm_r18-tiny_1x1x8-synthetic-rgb.py")


def one_line_error(capsys, argv: list[str], command=cli.train_main) -> str:
    assert command(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert "Traceback" not in err
    return err


def test_missing_config_through_the_real_command(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "tools/train.py"), str(tmp_path / "nope.py")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: config file not found: {tmp_path / 'nope.py'}"


def test_config_syntax_error_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("model = dict(\n    type='Recognizer2D',\n    backbone=dict(type='ResNet' depth=18))\n")
    err = one_line_error(capsys, [str(bad)])
    assert f"{bad}:3" in err


def test_unknown_type_stops_before_any_work(tmp_path, capsys, synthetic_options):
    err = one_line_error(capsys, [TSM, "--work-dir", str(tmp_path / "w"), "--cfg-options",
                                  "model.backbone.type=ResNetTMS", *synthetic_options()])
    assert "model.backbone.type: unknown model type 'ResNetTMS'" in err and "'ResNetTSM'" in err
    assert not list((tmp_path / "w").glob("*.pth"))


def test_unknown_type_in_test_pipeline_stops_a_training_run(tmp_path, capsys, synthetic_options):
    err = one_line_error(capsys, [TSM, "--work-dir", str(tmp_path / "w"), "--cfg-options",
                                  *synthetic_options(), "test_dataloader.dataset.pipeline.4.type=FormatShap"])
    assert "test_dataloader.dataset.pipeline.4.type: unknown transform type 'FormatShap'" in err


def test_unknown_cfg_options_key_path(capsys):
    err = one_line_error(capsys, [TSM, "--cfg-options", "model.bakbone.depth=50"])
    assert "model.bakbone" in err and "backbone" in err


def test_bad_cfg_options_value(capsys):
    err = one_line_error(capsys, [TSM, "--cfg-options", "model.backbone.depth=[18,34"])
    assert "model.backbone.depth=[18,34" in err


def test_missing_annotation_file(tmp_path, capsys):
    err = one_line_error(capsys, [TSM, "--work-dir", str(tmp_path / "w"), "--cfg-options",
                                  f"train_dataloader.dataset.ann_file={tmp_path}/missing.txt"])
    assert f"{tmp_path}/missing.txt" in err


def test_annotation_line_that_does_not_parse(tmp_path, capsys, tiny_synthetic, synthetic_options):
    ann = tmp_path / "train.txt"
    lines = (tiny_synthetic / "train_list_videos.txt").read_text().splitlines()
    lines[2] = "train/move_left_0002.mp4 left"
    ann.write_text("\n".join(lines) + "\n")
    err = one_line_error(capsys, [TSM, "--work-dir", str(tmp_path / "w"), "--cfg-options",
                                  *synthetic_options(), f"train_dataloader.dataset.ann_file={ann}"])
    assert f"{ann}:3" in err


def test_video_that_does_not_exist(tmp_path, capsys, tiny_synthetic, synthetic_options):
    # Left out by default (tests/engine/test_train_test_run.py); fatal with on_missing='error'.
    ann = tmp_path / "train.txt"
    ann.write_text((tiny_synthetic / "train_list_videos.txt").read_text() + "train/ghost.mp4 1\n")
    err = one_line_error(capsys, [TSM, "--work-dir", str(tmp_path / "w"), "--cfg-options",
                                  *synthetic_options(), f"train_dataloader.dataset.ann_file={ann}",
                                  "train_dataloader.dataset.on_missing=error"])
    assert "ghost.mp4" in err and f"{ann}:33" in err


def test_test_with_missing_checkpoint_and_url(tmp_path, capsys, synthetic_options, monkeypatch):
    err = one_line_error(capsys, [TSM, str(tmp_path / "none.pth"), "--work-dir", str(tmp_path / "w"),
                                  "--cfg-options", *synthetic_options()], cli.test_main)
    assert f"checkpoint not found: {tmp_path / 'none.pth'}" in err
    monkeypatch.setenv("KINETIX_HOME", str(tmp_path / "cache"))
    err = one_line_error(capsys, [TSM, "http://127.0.0.1:9/tsm.pth", "--work-dir", str(tmp_path / "w"),
                                  "--cfg-options", *synthetic_options()], cli.test_main)
    assert "checkpoint http://127.0.0.1:9/tsm.pth: download failed: " in err  # nothing listens on port 9


def test_dump_must_be_a_pickle_or_json(tmp_path, capsys, synthetic_options):
    # a real checkpoint is not needed: the --dump check comes first
    err = one_line_error(capsys, [TSM, str(tmp_path / "x.pth"), "--dump", str(tmp_path / "out.txt"),
                                  "--work-dir", str(tmp_path / "w"), "--cfg-options",
                                  *synthetic_options()], cli.test_main)
    assert "--dump" in err and ".pkl" in err and ".json" in err


def test_kinetix_command_usage(capsys):
    assert cli.main([]) == 2
    assert "usage: kinetix {train,test}" in capsys.readouterr().err


def test_data_error_in_a_worker_process_is_one_line(tmp_path, capsys, synthetic_options):
    cfg = tmp_path / "crop.py"
    cfg.write_text(f"""_base_ = [{TSM!r}]
train_dataloader = dict(num_workers=1, persistent_workers=False, dataset=dict(pipeline=[
    dict(type='PyAVInit'), dict(type='SampleFrames', clip_len=1, num_clips=8),
    dict(type='PyAVDecode'), dict(type='CenterCrop', crop_size=100),
    dict(type='FormatShape', input_format='NCHW'), dict(type='PackActionInputs')]))
""")
    opts = [o for o in synthetic_options() if not o.startswith("train_dataloader.num_workers")]
    err = one_line_error(capsys, [str(cfg), "--work-dir", str(tmp_path / "w"), "--cfg-options", *opts])
    assert "cannot crop 100x100 out of a 32x32 frame" in err
    assert "worker" not in err.lower()


def test_launcher_without_its_environment_names_the_missing_variable(capsys, monkeypatch, synthetic_options):
    for var in ("SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "MASTER_ADDR"):
        monkeypatch.delenv(var, raising=False)
    err = one_line_error(capsys, [TSM, "--launcher", "slurm", "--cfg-options", *synthetic_options()])
    assert err.startswith("error: --launcher slurm: environment variable SLURM_PROCID is not set")
    err = one_line_error(capsys, [TSM, "--launcher", "mpi", "--cfg-options", *synthetic_options()],
                         command=lambda argv: cli.test_main([argv[0], "ckpt.pth", *argv[1:]]))
    assert err.startswith("error: --launcher mpi: environment variable OMPI_COMM_WORLD_RANK is not set")
