"""Progress lines for the long phases of a run (a national round's ingest, dbt build and unit feedback files)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

PROGRESS_EVERY_S = 5.0  # at most one progress line per phase this often; a phase shorter than this says none


class Throttled:
    """Say a phase's progress at most once every `every_s` seconds, the first after `every_s`.

    Called from any thread (dbt's results arrive on a reader thread, the feedback files on theirs).
    `text` is built only when a line is due.
    """

    def __init__(
        self,
        say: Callable[[str], None],
        every_s: float | None = None,  # None: PROGRESS_EVERY_S
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._say, self._clock = say, clock
        self._every = PROGRESS_EVERY_S if every_s is None else every_s
        self.started = clock()
        self._due = self.started + self._every
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        return self._clock() - self.started

    def __call__(self, text: Callable[[], str]) -> None:
        with self._lock:
            now = self._clock()
            if now < self._due:
                return
            self._due = now + self._every
        self._say(text())

    def timed(self, text: Callable[[], str]) -> None:
        """As a call, with the seconds since the phase started after the text, e.g. `... (5 s)`."""
        self(lambda: f"{text()} ({self.elapsed():.0f} s)")
