"""Round trips through the local backend: a real runner subprocess, nothing mocked."""

from __future__ import annotations

import dataclasses
import enum
import importlib
import sys

import numpy as np
import pytest

import kinetic
from conftest import write_project


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Color(enum.Enum):
    RED = 1
    GREEN = 2


def test_plain_values_round_trip():
    @kinetic.run(backend="local")
    def echo(value):
        return value

    for value in (None, 0, 2.5, "text", [1, {"a": (1, 2)}], {"nested": {"k": [None]}}):
        assert echo(value) == value


def test_numpy_array_round_trip():
    @kinetic.run(backend="local")
    def double(array):
        return array * 2

    array = np.arange(1000, dtype=np.float32).reshape(10, 100)
    returned = double(array)
    assert returned.dtype == np.float32
    np.testing.assert_array_equal(returned, array * 2)


def test_closures_made_in_loop():
    functions = []
    for index in range(3):
        def make(bound=index):
            return lambda: bound
        functions.append(kinetic.run(backend="local")(make()))
    assert [function() for function in functions] == [0, 1, 2]


def test_dataclass_and_enum_identity():
    @kinetic.run(backend="local")
    def build():
        return Point(1, 2), Color.GREEN

    point, color = build()
    assert isinstance(point, Point)
    assert point == Point(1, 2)
    assert color is Color.GREEN


class Counter:
    def __init__(self, start: int) -> None:
        self.start = start

    @kinetic.run(backend="local")
    def add(self, amount: int) -> int:
        return self.start + amount


def test_bound_method():
    assert Counter(40).add(2) == 42


def test_unbound_method_call():
    assert Counter.add(Counter(1), 1) == 2


def test_helper_module_of_unpublished_project(tmp_path, monkeypatch):
    write_project(tmp_path, {
        "pyproject.toml": "[project]\nname = 'demo'\n",
        "demo_pkg/__init__.py": "",
        "demo_pkg/helpers.py": "def triple(x):\n    return 3 * x\n",
        "demo_pkg/jobs.py": (
            "import kinetic\nfrom demo_pkg.helpers import triple\n\n"
            "@kinetic.run(backend='local')\ndef compute(x):\n    return triple(x)\n"
        ),
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    jobs = importlib.import_module("demo_pkg.jobs")
    try:
        assert jobs.compute(5) == 15
    finally:
        for name in ("demo_pkg", "demo_pkg.jobs", "demo_pkg.helpers"):
            sys.modules.pop(name, None)


def test_relative_file_read_uses_working_directory(tmp_path, monkeypatch):
    write_project(tmp_path, {
        "requirements.txt": "",
        "configs/train.yaml": "lr: 0.1\n",
        "reader.py": (
            "import kinetic\n\n@kinetic.run(backend='local')\n"
            "def read():\n    return open('train.yaml').read()\n"
        ),
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path / "configs")
    reader = importlib.import_module("reader")
    try:
        assert reader.read() == "lr: 0.1\n"
    finally:
        sys.modules.pop("reader", None)


def test_sys_exit_zero_is_success():
    @kinetic.run(backend="local")
    def leave():
        sys.exit(0)

    assert leave() is None


def test_stray_thread_does_not_hang_runner():
    @kinetic.run(backend="local")
    def spawn():
        import threading
        import time

        threading.Thread(target=time.sleep, args=(3600,), daemon=False).start()
        return "done"

    job = spawn.submit()
    assert job.result(timeout=60) == "done"
    assert job.wait(timeout=60) is kinetic.JobStatus.SUCCEEDED


def test_local_call_runs_in_process():
    @kinetic.run(backend="local")
    def where():
        import os

        return os.getpid()

    import os

    assert where.local() == os.getpid()
    assert where() != os.getpid()


def test_client_paths_resolve_inside_container(tmp_path, monkeypatch):
    """Inside a container the project is extracted at the client's root path, so a path built
    from ``__file__`` on the client still points at the shipped file."""
    from kinetic import submission

    root = tmp_path / "proj"
    write_project(root, {
        "requirements.txt": "",
        "assets/labels.txt": "yes,no,maybe\n",
        "paths_job.py": (
            "from pathlib import Path\n\n"
            "def read_labels():\n"
            "    return (Path(__file__).parent / 'assets' / 'labels.txt').read_text()\n"
        ),
    })
    monkeypatch.syspath_prepend(str(root))
    module = importlib.import_module("paths_job")
    try:
        prepared = submission.prepare(submission.FunctionCall(module.read_labels, (), {}),
                                      "read_labels", "function", root, {"backend": "local"})
    finally:
        sys.modules.pop("paths_job", None)
    root.rename(tmp_path / "moved")  # as in a container, the client's folder does not exist
    monkeypatch.setenv("KINETIC_EXTRACT_AT_CLIENT_PATH", "1")
    job = submission.launch(prepared)
    assert job.result(timeout=60) == "yes,no,maybe\n"
