"""Progress of an image build and push: a rich live display on a terminal, log lines
otherwise. Every output line also goes to a log file, and the last lines are kept for error
messages."""

from __future__ import annotations

import collections
import logging
import re
from pathlib import Path
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.progress import (BarColumn, DownloadColumn, Progress, SpinnerColumn, TaskID,
                           TextColumn)

logger = logging.getLogger("kinetic.images")

TAIL_LINES = 40
_STEP_RE = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


class BuildProgress:
    """Follows one build. ``step`` and ``tail`` describe where a failed build stopped."""

    def __init__(self, image: str, *, log_path: Path | None = None,
                 console: Console | None = None) -> None:
        self.image = image
        self.log_path = log_path
        self.console = console or Console(stderr=True)
        self.step: str | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._log_file: IO[str] | None = None
        self._progress: Progress | None = None
        self._build_task: TaskID | None = None
        self._layer_tasks: dict[str, TaskID] = {}

    def __enter__(self) -> "BuildProgress":
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log_path, "w", encoding="utf-8")
        if self.console.is_terminal:
            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                DownloadColumn(), console=self.console, transient=True,
            )
            self._progress.start()
            self._build_task = self._progress.add_task(f"build {self.image}", total=None)
        logger.info("building %s%s", self.image,
                    f" (log: {self.log_path})" if self.log_path else "")
        if self._progress is None:  # no live display: warn that a build can take minutes
            self._say(f"building image {self.image}; this can take minutes"
                      + (f" (log: {self.log_path})" if self.log_path else ""))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
        if self._log_file is not None:
            self._log_file.close()

    def output(self, text: str) -> None:
        """Record build output (one or more lines) and advance the step display."""
        for line in text.splitlines():
            if not line.strip():
                continue
            self.tail.append(line)
            if self._log_file is not None:
                self._log_file.write(line + "\n")
                self._log_file.flush()
            match = _STEP_RE.match(line)
            if match:
                self._start_step(int(match.group(1)), int(match.group(2)), match.group(3))
            else:
                logger.debug("%s", line)

    def _start_step(self, index: int, total: int, instruction: str) -> None:
        self.step = f"step {index}/{total} ({_shorten(instruction)})"
        if self._progress is not None and self._build_task is not None:
            self._progress.update(self._build_task, total=total, completed=index - 1,
                                  description=f"build step {index}/{total}: "
                                              f"{_shorten(instruction, 50)}")
        else:
            logger.info("%s: %s", self.image, self.step)
            self._say(f"{self.image}: {self.step}")

    def _say(self, message: str) -> None:
        """Print a progress line to stderr without markup, for output that is not a terminal."""
        self.console.print(f"kinetic: {message}", markup=False, highlight=False, soft_wrap=True)

    def push_event(self, event: dict) -> None:
        """Show one event of the push stream (``id``, ``status``, ``progressDetail``)."""
        layer = event.get("id")
        status = event.get("status", "")
        if self._log_file is not None and status and "progressDetail" not in event:
            self._log_file.write(f"push: {layer or ''} {status}\n")
        if not layer:
            return
        detail = event.get("progressDetail") or {}
        if self._progress is None:
            if status in ("Pushed", "Layer already exists", "Mounted from"):
                logger.info("%s: layer %s: %s", self.image, layer, status.lower())
            return
        task = self._layer_tasks.get(layer)
        if task is None:
            task = self._progress.add_task(f"push {layer}", total=None)
            self._layer_tasks[layer] = task
        if detail.get("total"):
            # The engine's current byte count can overshoot its total; cap it for the bar.
            self._progress.update(task, total=detail["total"],
                                  completed=min(detail.get("current", 0), detail["total"]))
        if status in ("Pushed", "Layer already exists"):
            total = self._progress.tasks[task].total or 1
            self._progress.update(task, total=total, completed=total,
                                  description=f"{status.lower()} {layer}")

    def finish_build(self) -> None:
        if self._progress is not None and self._build_task is not None:
            task = self._progress.tasks[self._build_task]
            self._progress.update(self._build_task, completed=task.total or 1,
                                  description=f"built {self.image}")
        logger.info("built %s", self.image)

    def tail_text(self) -> str:
        return "\n".join(self.tail)


def _shorten(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
