"""A child process that does one job for the pipeline: spawned early, given one pickled request on stdin."""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO


def write_replacing(path: Path, data: bytes) -> None:
    """Write `path` through a temporary name, then replace it: a reader sees the old file or the new one."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")  # two processes may write the same file
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def no_gc_while_loading() -> Iterator[None]:
    """Keep Python's cycle collector off while the ingest loads a landing zone's files (millions of
    objects, hardly any garbage: about 2 s of collections at a national scale), then turn it on again."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def close_quietly(stream: IO[bytes] | None) -> None:
    """Close a stream if it is open; a pipe the child never read may fail to flush, which is ignored."""
    if stream and not stream.closed:
        with contextlib.suppress(OSError):
            stream.close()


class ChildWorker:
    """The plumbing shared by the dbt and checks workers: a scratch folder, stderr kept for the error
    message, and a context manager that stops the child when the block is left."""

    def __init__(self, command: list[str], prefix: str, stdout: int | None = None, cwd: Path | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix=prefix)
        self.scratch = Path(self._tmp.name)
        self._stderr = open(self.scratch / "stderr", "w+b")  # noqa: SIM115 - closed in __exit__
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=stdout, stderr=self._stderr, cwd=cwd)

    def last_error_line(self) -> str:
        """The last line the child wrote to stderr, for a log message."""
        self._stderr.seek(0)
        err = self._stderr.read().decode(errors="replace").strip().splitlines()
        return err[-1] if err else "no message"

    def close(self) -> None:
        """Stop the child if it still runs."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def on_success(self) -> None:
        """Called when the block is left without an exception, before the child is stopped."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self.on_success()
            self.close()
        finally:
            for stream in (self._proc.stdin, self._proc.stdout, self._stderr):
                close_quietly(stream)
            self._tmp.cleanup()
