"""Great Expectations in a child process that starts before dbt, so GX's import (3-4 s) overlaps the build.

The child imports GX, then waits for one request on stdin (the suites and where to read and write),
validates after dbt has released the work database, writes the result to a file and says so on stdout,
then builds Data Docs while the parent publishes. If the child fails, the checks run again in this
process, so an error surfaces with its own traceback.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType

from .quality import QualityResult, Suite, load_suites, preload, run_checkpoint

log = logging.getLogger(__name__)

DONE = b"validated\n"


class CheckpointWorker:
    """One checkpoint run in a child process; a context manager around dbt, the checks and publishing.

    Leaving the block normally waits for Data Docs; leaving it with an exception stops the child.
    """

    def __init__(self, command: list[str] | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="reformwatch-checks-")
        self._stderr = open(Path(self._tmp.name) / "stderr", "w+b")  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(
            command or [sys.executable, "-m", "reformwatch.quality_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )

    def run(
        self, work_db: Path, gx_dir: Path, docs_dir: Path, suites: list[Suite] | None = None, reuse: bool = False
    ) -> QualityResult:
        """Validate every suite (default: expectations/) for every round; see quality.run_checkpoint."""
        suites = suites if suites is not None else load_suites()
        out = Path(self._tmp.name) / "result.pickle"
        said = b""
        try:
            self._proc.stdin.write(pickle.dumps((work_db, gx_dir, docs_dir, suites, out, reuse)))
            self._proc.stdin.close()
            said = self._proc.stdout.readline()
        except OSError:  # the child died before it read the request
            pass
        if said == DONE and out.is_file():
            return pickle.loads(out.read_bytes())
        self.close()
        self._stderr.seek(0)
        err = self._stderr.read().decode(errors="replace").strip().splitlines()
        log.warning(
            "the checks worker failed (exit %s: %s); running the checks in this process",
            self._proc.returncode,
            err[-1] if err else "no message",
        )
        return run_checkpoint(work_db, gx_dir, docs_dir, suites, reuse=reuse)

    def finish(self) -> None:
        """Wait for the child to build Data Docs."""
        if self._proc.poll() is None:
            self._proc.wait()

    def close(self) -> None:
        """Stop the child if it still runs."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> CheckpointWorker:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self.finish()
            self.close()
        finally:
            for stream in (self._proc.stdin, self._proc.stdout, self._stderr):
                if stream and not stream.closed:
                    stream.close()
            self._tmp.cleanup()


def main() -> int:
    signal = os.fdopen(os.dup(1), "wb")  # stdout is the parent's signal; anything printed goes to stderr
    os.dup2(2, 1)
    preload()
    try:
        work_db, gx_dir, docs_dir, suites, out, reuse = pickle.load(sys.stdin.buffer)
    except EOFError:  # the parent stopped before the checks (dbt failed): nothing to do
        return 0

    def validated(result: QualityResult) -> None:
        tmp = out.with_suffix(".part")
        tmp.write_bytes(pickle.dumps(result))
        os.replace(tmp, out)
        signal.write(DONE)
        signal.flush()

    run_checkpoint(work_db, gx_dir, docs_dir, suites, validated, reuse=reuse)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
