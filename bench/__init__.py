"""Benchmarks of kinetic's launcher overhead against its physical floor.

``python -m bench`` generates a deterministic project in a temporary folder, times each stage
of a job (import, CLI start, packaging, call, logs, result transfer, Docker start) against the
cheapest operation that does the same physical work, prints a table and writes
``docs/benchmarks.md``. ``python -m bench --help`` lists the options.
"""
