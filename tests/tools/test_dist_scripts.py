"""The four launch scripts refuse bad arguments with a usage line before launching anything,
and print the exact command they run."""

import subprocess

import pytest
from launch_helpers import REPO, TSM

SCRIPTS = {  # script -> a valid argument list (a CPU-only machine: GPUS is the process count)
    "dist_train.sh": [str(TSM), "2"],
    "dist_test.sh": [str(TSM), str(TSM), "2"],  # any existing file stands for the checkpoint here
    "slurm_train.sh": ["partition", "job", str(TSM)],
    "slurm_test.sh": ["partition", "job", str(TSM), str(TSM)],
}


def script(name: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "tools" / name), *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env}, timeout=30, stdin=subprocess.DEVNULL)


def assert_usage_error(proc: subprocess.CompletedProcess, name: str, message: str | None) -> None:
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("usage:") and name in lines[-1]
    if message is not None:
        assert message in lines[0]
    assert proc.stdout == ""  # nothing was launched


@pytest.mark.parametrize("name", SCRIPTS)
def test_no_arguments_prints_usage(name):
    assert_usage_error(script(name), name, None)


@pytest.mark.parametrize("name", SCRIPTS)
def test_too_few_arguments(name):
    args = SCRIPTS[name][:-1]
    assert_usage_error(script(name, *args), name, f"expected at least {len(SCRIPTS[name])} arguments")


@pytest.mark.parametrize("name", SCRIPTS)
def test_missing_config(name):
    args = [a if a != str(TSM) else "configs/nope.py" for a in SCRIPTS[name]]
    assert_usage_error(script(name, *args), name, "CONFIG not found: configs/nope.py")


@pytest.mark.parametrize("name", ["dist_test.sh", "slurm_test.sh"])
def test_missing_checkpoint(name):
    args = SCRIPTS[name][:-2 if name == "dist_test.sh" else -1] + ["/nowhere/epoch_1.pth"]
    if name == "dist_test.sh":
        args.append("2")
    assert_usage_error(script(name, *args), name, "CHECKPOINT not found: /nowhere/epoch_1.pth")


@pytest.mark.parametrize("gpus", ["0", "two", "-1", "1.5"])
@pytest.mark.parametrize("name", ["dist_train.sh", "dist_test.sh"])
def test_gpus_must_be_a_positive_integer(name, gpus):
    args = SCRIPTS[name][:-1] + [gpus]
    assert_usage_error(script(name, *args), name, f"GPUS must be a positive integer, got '{gpus}'")


@pytest.mark.parametrize("var", ["GPUS", "GPUS_PER_NODE", "CPUS_PER_TASK"])
@pytest.mark.parametrize("name", ["slurm_train.sh", "slurm_test.sh"])
def test_slurm_counts_must_be_positive_integers(name, var):
    proc = script(name, *SCRIPTS[name], **{var: "0"})
    assert_usage_error(proc, name, f"{var} must be a positive integer, got '0'")


def test_node_rank_must_be_below_nnodes():
    proc = script("dist_train.sh", *SCRIPTS["dist_train.sh"], NNODES="2", NODE_RANK="2")
    assert_usage_error(proc, "dist_train.sh", "NODE_RANK (2) must be below NNODES (2)")


def fake_launcher(tmp_path, name: str) -> dict[str, str]:
    """A stand-in for python/srun that records its arguments and environment, so the command
    line can be checked without launching."""
    fake = tmp_path / name
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$0.args"\nenv > "$0.env"\n')
    fake.chmod(0o755)
    return {"PATH": f"{tmp_path}:/usr/bin:/bin"}


def test_dist_train_runs_torchrun_with_the_spec_defaults(tmp_path):
    env = fake_launcher(tmp_path, "python")
    proc = script("dist_train.sh", str(TSM), "4", "--seed", "1", **env)
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / "python.args").read_text().splitlines()
    assert args[:2] == ["-m", "kinetix.launch"]  # torchrun's agent, see kinetix/launch.py
    assert ["--nnodes=1", "--node_rank=0", "--master_addr=127.0.0.1", "--master_port=29500",
            "--nproc_per_node=4"] == args[2:7]
    assert args[7:] == [str(REPO / "tools/train.py"), str(TSM), "--launcher", "pytorch", "--seed", "1"]
    # The printed command is the one that ran.
    printed = proc.stdout.strip().splitlines()[0]
    assert printed.startswith("+ env PYTHONPATH=") and " python -m kinetix.launch --nnodes=1 " in printed
    assert printed.endswith("--launcher pytorch --seed 1")


def test_dist_test_passes_node_settings_from_the_environment(tmp_path):
    env = fake_launcher(tmp_path, "python")
    proc = script("dist_test.sh", str(TSM), "https://example.org/ckpt.pth", "2",
                  NNODES="2", NODE_RANK="1", PORT="29666", MASTER_ADDR="10.1.2.3", **env)
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / "python.args").read_text().splitlines()
    assert ["--nnodes=2", "--node_rank=1", "--master_addr=10.1.2.3", "--master_port=29666",
            "--nproc_per_node=2"] == args[2:7]
    assert args[7:] == [str(REPO / "tools/test.py"), str(TSM), "https://example.org/ckpt.pth",
                        "--launcher", "pytorch"]


def test_slurm_train_keeps_mmaction2s_srun_line(tmp_path):
    env = fake_launcher(tmp_path, "srun")
    proc = script("slurm_train.sh", "gpu", "myjob", str(TSM), "--amp",
                  GPUS="16", GPUS_PER_NODE="8", CPUS_PER_TASK="5", SRUN_ARGS="--quotatype=auto --time=10", **env)
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / "srun.args").read_text().splitlines()
    assert args[:10] == ["-p", "gpu", "--job-name=myjob", "--gres=gpu:8", "--ntasks=16", "--ntasks-per-node=8",
                         "--cpus-per-task=5", "--kill-on-bad-exit=1", "--quotatype=auto", "--time=10"]
    assert args[10:] == ["python", "-u", str(REPO / "tools/train.py"), str(TSM), "--launcher=slurm", "--amp"]
    port = int(next(line for line in (tmp_path / "srun.env").read_text().splitlines()
                    if line.startswith("MASTER_PORT=")).split("=")[1])
    assert 12000 <= port < 32000  # a random port per job, as MMAction2's script picks
    assert proc.stdout.startswith(f"+ env MASTER_PORT={port} PYTHONPATH=")
