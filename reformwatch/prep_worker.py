"""Child processes that prepare chunks of landed files (file_prep) while DuckDB parses in the parent.

Reading, hashing and decoding 200,000 files is Python work that holds the interpreter's lock; in the
ingest's own process it ran on one core, and DuckDB waited for it. Each worker takes one chunk at a
time (a pickled request on stdin, the pickled PreparedChunk on stdout), so results come back in order
and at most one chunk per worker is prepared ahead. If a worker fails, its chunk and the ones after it
are prepared in the parent, as a small ingest always is.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import subprocess
import sys
import traceback
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from .child_worker import ChildWorker
from .file_prep import PreparedChunk, prepare_chunk
from .scratch import scratch_prefix

log = logging.getLogger(__name__)

Job = tuple[Any, ...]  # prepare_chunk's arguments


def worker_count(files: int, chunk_files: int) -> int:
    """How many workers an ingest of `files` files uses: none for fewer than three chunks (the start of a
    process costs more than it saves), else $REFORMWATCH_INGEST_WORKERS or one per core (at most 4)."""
    if files < 3 * chunk_files:
        return 0
    configured = os.environ.get("REFORMWATCH_INGEST_WORKERS", "").strip()
    if configured:
        if configured.isdigit():
            return int(configured)
        log.warning("REFORMWATCH_INGEST_WORKERS=%r is not a whole number; using one worker per core", configured)
    return min(4, os.cpu_count() or 1)


class _Worker(ChildWorker):
    def __init__(self) -> None:
        super().__init__(
            [sys.executable, "-m", "reformwatch.prep_worker"], scratch_prefix("prep"), stdout=subprocess.PIPE
        )

    def send(self, job: Job) -> bool:
        try:
            pickle.dump(job, self._proc.stdin)
            self._proc.stdin.flush()
            return True
        except OSError:
            return False

    def receive(self) -> PreparedChunk | None:
        """The worker's answer to the job sent; None if it failed (logged)."""
        try:
            ok, value = pickle.load(self._proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            ok, value = False, f"the worker stopped (exit {self._proc.poll()}: {self.last_error_line()})"
        if ok:
            return value
        log.warning("a file preparation worker failed; preparing in this process: %s", value)
        return None


class PrepWorkers:
    """`n` worker processes; map() prepares chunks in them, in order. A context manager."""

    def __init__(self, n: int) -> None:
        self._workers: list[_Worker] = []
        try:
            for _ in range(n):
                self._workers.append(_Worker())
        except OSError:  # no process could be started: the parent prepares
            log.warning("could not start file preparation workers", exc_info=True)

    def map(self, jobs: Iterable[Job]) -> Iterator[PreparedChunk]:
        """prepare_chunk(*job) for each job, in order; a job waits while all workers are busy."""
        jobs = iter(jobs)
        if not self._workers:
            yield from (prepare_chunk(*job) for job in jobs)
            return
        pending: deque[tuple[_Worker | None, Job]] = deque()
        healthy = list(self._workers)
        for worker in healthy:
            job = next(jobs, None)
            if job is None:
                break
            pending.append((worker if worker.send(job) else None, job))
        while pending:
            worker, job = pending.popleft()
            got = worker.receive() if worker is not None else None
            if got is None and worker in healthy:
                healthy.remove(worker)
                worker.close()
            nxt = next(jobs, None)
            if nxt is not None:  # keep the worker busy while the parent loads this chunk
                if worker in healthy and worker.send(nxt):
                    pending.append((worker, nxt))
                else:
                    pending.append((None, nxt))  # prepared here when its turn comes
            yield got if got is not None else prepare_chunk(*job)

    def __enter__(self) -> PrepWorkers:
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self._workers:
            worker.__exit__(None, None, None)


def _serve() -> None:
    """The worker: answer pickled jobs until stdin closes."""
    gc.disable()  # few cycles, many short-lived objects
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            job = pickle.load(stdin)
        except EOFError:
            return
        try:
            answer: tuple[bool, Any] = (True, prepare_chunk(*job))
        except Exception:
            answer = (False, traceback.format_exc(limit=3))
        pickle.dump(answer, stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()


if __name__ == "__main__":
    _serve()
