"""Measure kinetic inside a fresh interpreter; run by the harness as a script.

Each mode times one benchmark row and writes its samples (seconds) as JSON to ``--json``. The
harness starts this file with ``python bench/driver_kinetic.py MODE ...`` so that the project
modules it imports and the jobs it starts never share state with the harness or with another
row. It imports nothing from the ``bench`` package.

Modes:
  package  archive + payload of ``--root``, cold (a fresh store each time) and unchanged
  call     a trivial function on a backend (``--backend local`` or ``docker``), call to return
  logs     a job printing ``--lines`` numbered lines, received through ``JobHandle.logs``,
           against the same job printing to /dev/null
  result   a job returning a ``--nbytes`` numpy array, against copying as many bytes file to
           file; also times filling the array in this process
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path


def measure_package(args: argparse.Namespace) -> dict:
    from kinetic.packaging.archive import build_archive
    from kinetic.packaging.payload import FunctionCall, build_payload
    from kinetic.store.local import LocalStore

    root = Path(args.root).resolve()
    sys.path.insert(0, str(root))
    import train  # the generated project's module; its function is pickled by value

    call = FunctionCall(train.train, ("configs/config_00.json",), {"steps": 10})
    work = Path(args.work)

    def package(store: LocalStore):
        archive = build_archive(root, store)
        payload = build_payload(call, {}, root, label="train")
        return archive, payload

    cold: list[float] = []
    store = None
    for iteration in range(args.warmup + args.repeat):
        if store is not None:
            shutil.rmtree(store.root)
        store = LocalStore(work / f"store-{iteration}")
        start = time.perf_counter()
        archive, payload = package(store)
        elapsed = time.perf_counter() - start
        if archive.reused:
            raise SystemExit(f"the cold archive of {root} was reused from a fresh store")
        if iteration >= args.warmup:
            cold.append(elapsed)

    unchanged: list[float] = []
    for iteration in range(args.warmup + args.repeat):
        start = time.perf_counter()
        reused, _ = package(store)
        elapsed = time.perf_counter() - start
        if not reused.reused:
            raise SystemExit(f"the archive of the unchanged project {root} was rebuilt")
        if iteration >= args.warmup:
            unchanged.append(elapsed)

    return {
        "cold": cold, "unchanged": unchanged, "archive_bytes": archive.size,
        "archive_files": archive.file_count, "payload_bytes": len(payload.data),
    }


def _remote(name: str, args: argparse.Namespace):
    """The function ``name`` of the jobs project at ``--root``, decorated for ``--backend``."""
    import kinetic

    sys.path.insert(0, str(Path(args.root).resolve()))
    import bench_jobs

    return kinetic.run(backend=args.backend)(getattr(bench_jobs, name))


def measure_call(args: argparse.Namespace) -> dict:
    trivial = _remote("trivial", args)
    samples: list[float] = []
    image = None
    job_ids: list[str] = []
    for iteration in range(args.warmup + args.repeat):
        start = time.perf_counter()
        job = trivial.submit()
        job_ids.append(job.id)
        value = _follow(job)
        elapsed = time.perf_counter() - start
        if value != "ok":
            raise SystemExit(f"the trivial job {job.id} returned {value!r}, expected 'ok'")
        job.status()  # reloads the record, where a container backend names its image
        image = job.record.image
        if iteration >= args.warmup:
            samples.append(elapsed)
    return {"samples": samples, "image": image, "job_ids": job_ids}


def _follow(job):
    """What ``RemoteFunction.__call__`` does after submitting: stream the output, return."""
    from kinetic.submission import follow_and_return

    return follow_and_return(job)


def measure_logs(args: argparse.Namespace) -> dict:
    print_lines = _remote("print_lines", args)
    samples: list[float] = []
    floor: list[float] = []
    missing: list[int] = []
    out_of_order: list[int] = []
    for iteration in range(args.warmup + args.repeat):
        # The floor job ends the same way as the measured one: when its log stream ends.
        start = time.perf_counter()
        job = print_lines.submit(args.lines, True)
        for _ in job.logs(follow=True):
            pass
        floor_elapsed = time.perf_counter() - start
        job.result()

        start = time.perf_counter()
        job = print_lines.submit(args.lines, False)
        received, disordered = _count_numbered_lines(job.logs(follow=True))
        elapsed = time.perf_counter() - start
        job.result()
        if iteration >= args.warmup:
            samples.append(elapsed)
            floor.append(floor_elapsed)
            missing.append(args.lines - received)
            out_of_order.append(disordered)
    return {"samples": samples, "floor": floor, "missing": missing,
            "out_of_order": out_of_order}


def _count_numbered_lines(lines) -> tuple[int, int]:
    """Count lines that are numbers, and those that do not follow their predecessor."""
    received = 0
    disordered = 0
    expected = 0
    for line in lines:
        if not line.isdigit():
            continue
        number = int(line)
        if number != expected:
            disordered += 1
        expected = number + 1
        received += 1
    return received, disordered


def measure_result(args: argparse.Namespace) -> dict:
    make_array = _remote("make_array", args)
    work = Path(args.work)
    source = work / "array.bin"
    copy = work / "array-copy.bin"
    samples: list[float] = []
    floor: list[float] = []
    fill: list[float] = []
    for iteration in range(args.warmup + args.repeat):
        start = time.perf_counter()
        value = make_array(args.nbytes)
        elapsed = time.perf_counter() - start
        _check_array(value, args.nbytes)
        if not source.exists():
            source.write_bytes(value.tobytes())
        del value

        start = time.perf_counter()
        shutil.copyfile(source, copy)
        floor_elapsed = time.perf_counter() - start
        copy.unlink()

        # What the job itself spends: allocating and filling the array, here in this process.
        start = time.perf_counter()
        local = make_array.local(args.nbytes)
        fill_elapsed = time.perf_counter() - start
        del local
        if iteration >= args.warmup:
            samples.append(elapsed)
            floor.append(floor_elapsed)
            fill.append(fill_elapsed)
    source.unlink()
    return {"samples": samples, "floor": floor, "fill": fill}


def _check_array(value, nbytes: int) -> None:
    count = nbytes // 8
    if value.nbytes != count * 8 or value[0] != 0 or value[-1] != count - 1:
        raise SystemExit(f"the returned array is wrong: {value.nbytes} bytes, first "
                         f"{value[0]}, last {value[-1]}; expected {count * 8} bytes, "
                         f"0 .. {count - 1}")


MODES = {
    "package": measure_package, "call": measure_call, "logs": measure_logs,
    "result": measure_result,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--json", required=True, help="file to write the measurements to")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--root", required=True,
                        help="project to package (mode package), else the jobs project")
    parser.add_argument("--work", help="scratch folder for stores and copies")
    parser.add_argument("--backend", default="local", help="backend of the jobs")
    parser.add_argument("--lines", type=int, default=200_000, help="lines of mode logs")
    parser.add_argument("--nbytes", type=int, default=256 * 1024 ** 2,
                        help="array size of mode result, in bytes")
    args = parser.parse_args()
    measurements = MODES[args.mode](args)
    Path(args.json).write_text(json.dumps(measurements))


if __name__ == "__main__":
    main()
