"""The `kinetic` command, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import write_project


def kinetic_cli(*args: str, cwd=None, env_overrides=None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_overrides or {})}
    return subprocess.run([sys.executable, "-m", "kinetic.cli.main", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def test_help_lists_commands_without_heavy_imports():
    code = ("import sys\nfrom kinetic.cli.main import cli\n"
            "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in sys.modules if m.startswith('kinetic.cli.')))")
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout
    for command in ("launch", "plan", "jobs", "accelerators", "version"):
        assert command in output
    assert "LOADED ['kinetic.cli.main']" in output


def test_version_json():
    result = kinetic_cli("version", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)["version"]


def test_launch_propagates_exit_code_and_args(tmp_path):
    write_project(tmp_path, {
        "requirements.txt": "",
        "scripts/job.py": (
            "import os, sys\nprint('args', sys.argv[1:])\nprint('inside', "
            "os.environ['KINETIC_INSIDE_JOB'])\nsys.exit(int(sys.argv[-1]))\n"
        ),
    })
    succeeded = kinetic_cli("launch", "scripts/job.py", "--", "--epochs", "2", "0", cwd=tmp_path)
    assert succeeded.returncode == 0, succeeded.stderr
    assert "args ['--epochs', '2', '0']" in succeeded.stdout
    assert "inside 1" in succeeded.stdout

    failed = kinetic_cli("launch", "scripts/job.py", "--", "9", cwd=tmp_path)
    assert failed.returncode == 9
    assert "failed with exit code 9" in failed.stderr


def test_launch_missing_script_says_so(tmp_path):
    result = kinetic_cli("launch", "nope.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.py does not exist" in result.stderr


def test_jobs_commands_round_trip(tmp_path):
    write_project(tmp_path, {"requirements.txt": "", "hello.py": "print('hello from job')\n"})
    launched = kinetic_cli("launch", "--detach", "hello.py", cwd=tmp_path)
    assert launched.returncode == 0, launched.stderr
    job_id = launched.stdout.strip()

    result = kinetic_cli("jobs", "result", job_id, "--timeout", "60")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None"

    status = kinetic_cli("jobs", "status", job_id, "--json")
    assert json.loads(status.stdout)["status"] == "succeeded"

    logs = kinetic_cli("jobs", "logs", job_id)
    assert "hello from job" in logs.stdout

    listed = json.loads(kinetic_cli("jobs", "list", "--json").stdout)
    assert [row["id"] for row in listed] == [job_id]


def test_jobs_status_unknown_id():
    result = kinetic_cli("jobs", "status", "missing-job")
    assert result.returncode == 1
    assert "no job 'missing-job'" in result.stderr
    assert "kinetic jobs list" in result.stderr


def test_plan_manifests_format_is_kubectl_yaml(tmp_path):
    import yaml

    write_project(tmp_path, {
        "requirements.txt": "",
        "train.py": ("import kinetic\n\n@kinetic.run(accelerator='tpu-v6e-16')\n"
                     "def train():\n    return 1\n"),
    })
    result = kinetic_cli("plan", "--format", "manifests", "train.py:train", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    assert [document["kind"] for document in documents] == ["Service", "Job"]


def test_gke_backend_explains_it_cannot_submit(tmp_path):
    write_project(tmp_path, {"requirements.txt": "", "job.py": "print(1)\n"})
    result = kinetic_cli("launch", "job.py", cwd=tmp_path,
                         env_overrides={"KINETIC_CLUSTER": "projects/p/locations/l/clusters/c"})
    assert result.returncode == 1
    assert "cannot submit jobs to GKE" in result.stderr
    assert "unset the cluster setting" in result.stderr
