"""The mpi and slurm launchers under the real thing: Open MPI's mpirun, and a single-node Slurm
with two fake GPUs running tools/slurm_train.sh and tools/slurm_test.sh unchanged."""

import json

import pytest
import torch
from launch_helpers import TSM, free_port, output, require, run, write_config

pytestmark = pytest.mark.slow

# As root in a container: --allow-run-as-root; --bind-to none, or each rank is pinned to one core
# and its DataLoader workers share it.
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none", "-np", "2",
          "-x", "MASTER_ADDR=127.0.0.1", "-x", "OMP_NUM_THREADS", "-x", "PYTHONPATH"]
RAISE_ON_RANK_1 = """custom_imports = dict(imports=['dist_probe'], allow_failed_imports=False)
custom_hooks = [dict(type='FaultHook', kind='raise', rank=1, step=2)]
"""


def test_mpirun_trains_and_tests(tiny_options, tmp_path):
    require("mpirun")
    work = tmp_path / "work"
    port = f"MASTER_PORT={free_port()}"
    proc = run([*MPIRUN, "-x", port, "python", "tools/train.py", str(TSM), "--launcher", "mpi",
                "--work-dir", str(work), "--seed", "0", "--cfg-options", *tiny_options()])
    assert proc.returncode == 0, output(proc)[-3000:]
    assert "mpi launcher: rank 0 of 2, backend gloo" in output(proc)
    assert torch.load(work / "epoch_1.pth", weights_only=True)["meta"]["iter"] == 6
    proc = run([*MPIRUN, "-x", f"MASTER_PORT={free_port()}", "python", "tools/test.py", str(TSM),
                str(work / "epoch_1.pth"), "--launcher", "mpi", "--work-dir", str(work),
                "--cfg-options", *tiny_options()])
    assert proc.returncode == 0, output(proc)[-3000:]
    metrics = json.loads((work / "test_metrics.json").read_text())
    assert metrics["num_samples"] == metrics["num_evaluated"] == 15


def test_mpirun_without_master_addr_names_it(tiny_options):
    require("mpirun")
    proc = run(["mpirun", "--allow-run-as-root", "--oversubscribe", "-np", "2", "python", "tools/train.py",
                str(TSM), "--launcher", "mpi", "--cfg-options", *tiny_options()], MASTER_ADDR="")
    assert proc.returncode != 0
    assert "error: --launcher mpi: environment variable MASTER_ADDR is not set" in output(proc)


def test_mpirun_ends_the_job_when_a_rank_raises(tiny_options, tmp_path):
    require("mpirun")
    config = write_config(tmp_path / "raise.py", RAISE_ON_RANK_1)
    proc = run([*MPIRUN, "-x", f"MASTER_PORT={free_port()}", "python", "tools/train.py", str(config),
                "--launcher", "mpi", "--work-dir", str(tmp_path / "work"), "--cfg-options", *tiny_options()],
               timeout=120)
    assert proc.returncode != 0
    assert "[rank 1] RuntimeError: FaultHook: deliberate failure on rank 1 at step 2" in output(proc)


def slurm_script(cluster, name: str, *args: str, **env: str):
    return run(["bash", f"tools/{name}", cluster.partition, "kinetix-test", *args],
               GPUS="2", GPUS_PER_NODE="2", CPUS_PER_TASK="1", **cluster.env, **env)


def test_slurm_scripts_train_and_test(slurm_cluster, tiny_options, tmp_path):
    work = tmp_path / "work"
    proc = slurm_script(slurm_cluster, "slurm_train.sh", str(TSM), "--work-dir", str(work), "--seed", "0",
                        "--cfg-options", *tiny_options())
    text = output(proc)
    assert proc.returncode == 0, text[-3000:]
    assert "--gres=gpu:2 --ntasks=2 --ntasks-per-node=2 --cpus-per-task=1 --kill-on-bad-exit=1" in \
        text.splitlines()[0]  # the srun line, printed before it runs
    assert "slurm launcher: rank 0 of 2, backend gloo" in text
    assert torch.load(work / "epoch_1.pth", weights_only=True)["meta"]["iter"] == 6
    proc = slurm_script(slurm_cluster, "slurm_test.sh", str(TSM), str(work / "epoch_1.pth"),
                        "--work-dir", str(work), "--cfg-options", *tiny_options())
    assert proc.returncode == 0, output(proc)[-3000:]
    metrics = json.loads((work / "test_metrics.json").read_text())
    assert metrics["num_samples"] == metrics["num_evaluated"] == 15


def test_slurm_kills_the_job_when_a_rank_raises(slurm_cluster, tiny_options, tmp_path):
    config = write_config(tmp_path / "raise.py", RAISE_ON_RANK_1)
    proc = slurm_script(slurm_cluster, "slurm_train.sh", str(config), "--work-dir", str(tmp_path / "work"),
                        "--cfg-options", *tiny_options())
    assert proc.returncode != 0
    assert "[rank 1] RuntimeError: FaultHook: deliberate failure on rank 1 at step 2" in output(proc)
