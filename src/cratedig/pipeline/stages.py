"""The stages of a training run: each timed (wall and CPU) and shown as a progress bar."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from rich.progress import Progress


def stage_progress(enabled: bool) -> AbstractContextManager[Any]:
    """The bar of a run's stages (nothing when ``enabled`` is false)."""
    return Progress(transient=False) if enabled else nullcontext(None)


class Stages:
    """Times each stage of a run (for the version's metrics) and shows it as a bar.

    ``bar`` is a rich Progress (None: no display); stages run before it exists (tuning
    shows its own bar) are timed all the same.
    """

    def __init__(self) -> None:
        self.bar: Any = None
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        #: called with a stage's name as it starts (the scheduler's checkpoint)
        self.on_start: Callable[[str], None] | None = None

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
        """Time the block as stage ``name``; yields ``advance(n)`` for its progress."""
        if self.on_start is not None:
            self.on_start(name)
        bar = self.bar
        task = None if bar is None else bar.add_task(name, total=total)
        started, cpu_started = time.perf_counter(), time.process_time()

        def advance(n: int) -> None:
            if task is not None:
                bar.advance(task, n)

        try:
            yield advance
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 3)
            self.cpu_seconds[name] = round(time.process_time() - cpu_started, 3)
            if task is not None:
                bar.update(task, total=total or 1, completed=total or 1)

    def metrics(self) -> dict[str, float]:
        """``seconds_<stage>`` (wall) and ``cpu_seconds_<stage>`` (the process's CPU time,
        all threads) for every stage timed so far."""
        out = {f"seconds_{name.replace(' ', '_')}": value for name, value in self.seconds.items()}
        for name, value in self.cpu_seconds.items():
            out[f"cpu_seconds_{name.replace(' ', '_')}"] = value
        return out
