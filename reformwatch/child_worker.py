"""A child process that does one job for the pipeline: spawned early, given one pickled request on stdin."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NoReturn

from .scratch import scratch_prefix


def write_replacing(path: Path, data: bytes) -> None:
    """Write `path` through a temporary name, then replace it: a reader sees the old file or the new one."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")  # two processes may write the same file
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def no_gc_while_loading(freeze: bool = True) -> Iterator[None]:
    """Keep Python's cycle collector off while a process imports and loads (dbt, GX, a landing zone's
    files: millions of objects, hardly any garbage), then turn it on again. With `freeze` (a worker
    that keeps what it loaded), what was loaded is frozen first, so later collections skip it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


def leave_start_folder() -> None:
    """Take the folder the run started from off sys.path (python -m puts it first), unless this package
    is imported from there. dbt lists every subfolder of each sys.path folder on every invocation
    (pkgutil.iter_modules, to find plugins): about 1 s when a run starts in, say, the landing zone."""
    start = sys.path[0] if sys.path else None
    here = str(Path(__file__).resolve().parent.parent)
    if start is not None and start in ("", os.getcwd()) and os.path.realpath(start or ".") != here:
        del sys.path[0]


def exit_now(code: int) -> NoReturn:
    """End a worker whose result is written, without tearing down its modules (dbt or GX: about 0.5 s
    the parent would wait). Logs and standard streams are flushed first."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class ForkedCall:
    """A forked copy of this process computing one value (fork_call); result() waits for it."""

    def __init__(self, pid: int, out: Path) -> None:
        self.pid, self.out, self.failure = pid, out, ""

    def result(self) -> Any | None:
        """The copy's value, or None if it failed (then `failure` says how)."""
        try:
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            if code == 0:
                return pickle.loads(self.out.read_bytes())
            self.failure = f"exit {code}"
            return None
        finally:
            self.out.unlink(missing_ok=True)


def fork_call(work: Callable[[], Any]) -> ForkedCall | None:
    """Compute work() in a forked copy of this process, which pickles the value to a file and exits
    without this process's exit handlers; None if the fork failed. Only for a process without other
    threads that could hold a lock at the fork (e.g. the checks worker)."""
    fd, name = tempfile.mkstemp(prefix=scratch_prefix("fork"), suffix=".pickle")
    os.close(fd)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:
        logging.getLogger(__name__).warning("could not fork", exc_info=True)
        os.unlink(name)
        return None
    if pid == 0:  # the copy
        code = 1
        try:
            Path(name).write_bytes(pickle.dumps(work()))
            code = 0
        except BaseException:
            traceback.print_exc()
        sys.stderr.flush()
        os._exit(code)
    return ForkedCall(pid, Path(name))


def close_quietly(stream: IO[bytes] | None) -> None:
    """Close a stream if it is open; a pipe the child never read may fail to flush, which is ignored."""
    if stream and not stream.closed:
        with contextlib.suppress(OSError):
            stream.close()


class ChildWorker:
    """The plumbing shared by the dbt and checks workers: a scratch folder, stderr kept for the error
    message, and a context manager that stops the child when the block is left."""

    def __init__(self, command: list[str], prefix: str, stdout: int | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix=prefix)
        self.scratch = Path(self._tmp.name)
        self._stderr = open(self.scratch / "stderr", "w+b")  # noqa: SIM115 - closed in __exit__
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=stdout, stderr=self._stderr)

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
