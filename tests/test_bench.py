"""Smoke tests of the benchmark harness: it runs end to end on a tiny project, so it cannot rot.

Nothing here asserts a timing; the figures of a one-repetition run on a shared machine mean
little. The docker row is left out because building its image takes minutes.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `pytest` (unlike `python -m pytest`) leaves out the cwd
    sys.path.insert(0, str(REPO_ROOT))

from bench.project import ProjectSpec, generate_project  # noqa: E402
ROW_TITLES = ("import", "CLI", "package, cold", "package, unchanged", "call overhead", "logs",
              "result, ", "docker")


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, str]:
    output = tmp_path_factory.mktemp("bench") / "benchmarks.md"
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "--repeat", "1", "--warmup", "0", "--scale", "0.01",
         "--skip", "docker", "--output", str(output)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    markdown = output.read_text() if output.exists() else ""
    return completed, markdown


def test_harness_exits_cleanly(smoke_run):
    completed, _ = smoke_run
    assert completed.returncode == 0, completed.stderr


def test_table_lists_every_row(smoke_run):
    completed, _ = smoke_run
    for title in ROW_TITLES:
        assert f"│ {title}" in completed.stdout, f"row {title!r} missing from:\n{completed.stdout}"


def test_no_row_failed(smoke_run):
    completed, markdown = smoke_run
    assert "failed:" not in completed.stdout
    assert "failed, so its target is unchecked" not in markdown


def test_markdown_has_every_row(smoke_run):
    _, markdown = smoke_run
    results = markdown.split("## Results", 1)[1].split("## Targets missed", 1)[0]
    for title in ROW_TITLES:
        assert f"| {title}" in results, f"row {title!r} missing from:\n{results}"


def test_markdown_describes_machine(smoke_run):
    _, markdown = smoke_run
    for label in ("CPU:", "Memory:", "Python:", "Versions: kinetic-launcher", "cloudpickle",
                  "numpy", "Date:", "--scale 0.01"):
        assert label in markdown


def test_skipped_docker_row_gives_reason(smoke_run):
    _, markdown = smoke_run
    docker_line = next(line for line in markdown.splitlines() if line.startswith("| docker |"))
    assert "skipped: not selected" in docker_line


def test_logs_row_counts_every_line(smoke_run):
    _, markdown = smoke_run
    logs_line = next(line for line in markdown.splitlines() if line.startswith("| logs |"))
    assert "0 missing and 0 out of order" in logs_line


def _digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_project_generation_deterministic(tmp_path):
    spec = ProjectSpec().scaled(0.01)
    first = generate_project(tmp_path / "first", spec)
    second = generate_project(tmp_path / "second", spec)
    assert _digest(first.root) == _digest(second.root)
    assert first.files == second.files


def test_project_shape_matches_spec(tmp_path):
    project = generate_project(tmp_path / "project", ProjectSpec().scaled(0.01))
    assert project.file_count == 200
    assert sum(name.endswith(".py") for name in project.files) == 150
    assert sum(name.endswith(".json") for name in project.files) == 30
    assert sum(name.endswith(".bin") for name in project.files) == 10
    assert sum(name.endswith(".txt") and name.startswith("notes/") for name in project.files) == 5
    assert (project.root / ".git" / "HEAD").is_file()
    assert not any(name.startswith(".git/") for name in project.files)


def test_full_project_size(tmp_path):
    project = generate_project(tmp_path / "project")
    assert project.file_count == 200
    assert round(project.total_bytes / 1024 ** 2, 1) == 48.5
