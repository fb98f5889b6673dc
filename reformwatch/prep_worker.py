"""Child processes that prepare chunks of landed files (file_prep) while DuckDB parses in the parent.

Reading, hashing and decoding 200,000 files is Python work that holds the interpreter's lock; in the
ingest's own process it ran on one core, and DuckDB waited for it. Each worker takes one chunk at a
time (a pickled request on stdin, the pickled PreparedChunk on stdout), so results come back in order
and at most one chunk per worker is prepared ahead. A worker that fails fails the ingest (PrepError,
with the worker's reason): the run's transaction is rolled back and the next run reads the files again.
A small ingest (fewer than three chunks) starts no worker: it prepares its chunks itself.
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


class PrepError(Exception):
    """A file preparation worker failed (the pipeline's own failure, not the data's); the message says why."""


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
    def __init__(self, command: list[str]) -> None:
        super().__init__(command, scratch_prefix("prep"), stdout=subprocess.PIPE)

    def _failed(self, why: str) -> PrepError:
        self.close()
        return PrepError(f"a file preparation worker failed ({why}); nothing of this run was loaded")

    def send(self, job: Job) -> None:
        try:
            pickle.dump(job, self._proc.stdin)
            self._proc.stdin.flush()
        except OSError:
            raise self._failed(f"exit {self._proc.wait()}: {self.last_error_line()}") from None

    def receive(self) -> PreparedChunk:
        """The worker's answer to the job sent."""
        try:
            ok, value = pickle.load(self._proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            raise self._failed(f"exit {self._proc.wait()}: {self.last_error_line()}") from None
        if not ok:
            raise self._failed(value.strip().splitlines()[-1])
        return value


class PrepWorkers:
    """`n` worker processes (none: this process prepares); map() prepares chunks in them, in order.
    A context manager. `command` starts a worker (tests start a failing one)."""

    def __init__(self, n: int, command: list[str] | None = None) -> None:
        self._workers: list[_Worker] = []
        try:
            for _ in range(n):
                self._workers.append(_Worker(command or [sys.executable, "-m", "reformwatch.prep_worker"]))
        except OSError as e:
            self.__exit__()
            raise PrepError(f"could not start a file preparation worker: {e}") from e

    def map(self, jobs: Iterable[Job]) -> Iterator[PreparedChunk]:
        """prepare_chunk(*job) for each job, in order; a job waits while all workers are busy. Raises
        PrepError when a worker fails."""
        jobs = iter(jobs)
        if not self._workers:
            yield from (prepare_chunk(*job) for job in jobs)
            return
        pending: deque[_Worker] = deque()
        for worker in self._workers:
            job = next(jobs, None)
            if job is None:
                break
            worker.send(job)
            pending.append(worker)
        while pending:
            worker = pending.popleft()
            got = worker.receive()
            nxt = next(jobs, None)
            if nxt is not None:  # keep the worker busy while the parent loads this chunk
                worker.send(nxt)
                pending.append(worker)
            yield got

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
