"""The job launchers of cmd.sh: the local one, and the Slurm one with a stand-in srun (no cluster here)."""

import os
import subprocess

from tests.data.helpers import TEMPLATE


def test_local_launcher_logs_and_returns_the_exit_status(tmp_path):
    log = tmp_path / "log" / "job.log"
    out = subprocess.run(
        [
            str(TEMPLATE / "utils" / "run_local.sh"),
            "--gpu",
            "1",
            str(log),
            "bash",
            "-c",
            "echo hello; echo oops >&2; exit 3",
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 3
    assert "hello" in out.stdout and "oops" in out.stdout
    text = log.read_text()
    assert "hello" in text and "oops" in text and "exit status 3" in text


def test_slurm_launcher_asks_srun_for_what_the_job_needs(tmp_path):
    fake_srun = tmp_path / "srun"
    record = tmp_path / "srun.args"
    # Records its arguments and runs the command, as srun does on a compute node.
    fake_srun.write_text(
        f'#!/usr/bin/env bash\nprintf "%s\\n" "$@" > {record}\n'
        'while [ $# -gt 0 ] && [ "${1#--}" != "$1" ]; do shift 2; done\nexec "$@"\n'
    )
    fake_srun.chmod(0o755)
    config = tmp_path / "slurm.conf"
    config.write_text('partition=cpu\ngpu_partition=a100\ntime_limit=1:00:00\nextra_args="--account proj"\n')
    log = tmp_path / "train.log"
    out = subprocess.run(
        [
            str(TEMPLATE / "utils" / "run_slurm.sh"),
            "--config",
            str(config),
            "--gpu",
            "2",
            "--mem",
            "20G",
            "--num-threads",
            "8",
            str(log),
            "bash",
            "-c",
            "echo trained; exit 0",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "SRUN": str(fake_srun)},
    )
    assert out.returncode == 0 and "trained" in out.stdout and "trained" in log.read_text()
    args = record.read_text().split("\n")
    pairs = dict(zip(args[0:-1:2], args[1::2]))
    assert pairs["--gres"] == "gpu:2" and pairs["--partition"] == "a100" and pairs["--mem"] == "20G"
    assert pairs["--cpus-per-task"] == "8" and pairs["--time"] == "1:00:00" and pairs["--account"] == "proj"

    cpu = subprocess.run(
        [str(TEMPLATE / "utils" / "run_slurm.sh"), "--config", str(config), str(log), "bash", "-c", "exit 4"],
        capture_output=True,
        text=True,
        env={**os.environ, "SRUN": str(fake_srun)},
    )
    assert cpu.returncode == 4
    args = record.read_text().split("\n")
    assert "--gres" not in args and args[args.index("--partition") + 1] == "cpu"


def test_cmd_sh_picks_the_backend(tmp_path):
    script = f'cd {TEMPLATE} && . ./cmd.sh && echo "$train_cmd|$cuda_cmd"'
    local = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
    assert local.stdout.strip() == "utils/run_local.sh|utils/run_local.sh"
    slurm = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env={**os.environ, "CMD_BACKEND": "slurm"}
    )
    assert slurm.stdout.strip().split("|")[1] == "utils/run_slurm.sh --config conf/slurm.conf --gpu 1"
    bad = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env={**os.environ, "CMD_BACKEND": "sge"}
    )
    assert bad.returncode != 0 and "unknown cmd_backend" in bad.stderr
