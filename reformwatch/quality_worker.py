"""Great Expectations in a child process that starts before dbt, so GX's import (about 2 s) overlaps the build.

The child imports GX, then waits for one request on stdin (the suites and where to read and write),
validates after dbt has released the work database, writes the result to a file and says so on stdout,
then builds Data Docs while the parent completes publishing and writes the bulletins. The checks run
only there: if the child fails, the run fails (ChecksError) with the child's last error line, and nothing
is published.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

from .child_worker import ChildWorker, close_quietly, write_replacing
from .quality import ChecksError, QualityResult, Suite, load_suites, preload, run_checkpoint
from .scratch import scratch_prefix

log = logging.getLogger(__name__)

DONE = b"validated\n"


class CheckpointWorker(ChildWorker):
    """One checkpoint run in a child process; a context manager around dbt, the checks and publishing.

    Leaving the block normally waits for Data Docs; leaving it with an exception stops the child.
    """

    def __init__(self, command: list[str] | None = None) -> None:
        super().__init__(
            command or [sys.executable, "-m", "reformwatch.quality_worker"],
            scratch_prefix("checks"),
            stdout=subprocess.PIPE,
        )
        self._result_file = self.scratch / "result.pickle"

    def run(self, work_db: Path, gx_dir: Path, docs_dir: Path, suites: list[Suite] | None = None) -> QualityResult:
        """Validate every suite (default: expectations/) for every round; see quality.run_checkpoint."""
        self.start(work_db, gx_dir, docs_dir, suites)
        return self.result()

    def start(self, work_db: Path, gx_dir: Path, docs_dir: Path, suites: list[Suite] | None = None) -> None:
        """Send the request; the child validates while this process does other work (reading only)."""
        suites = suites if suites is not None else load_suites()
        try:
            request = (work_db, gx_dir, docs_dir, suites, self._result_file)
            self._proc.stdin.write(pickle.dumps(request))
            self._proc.stdin.close()
        except OSError:  # the child died before it read the request
            pass

    def result(self) -> QualityResult:
        """Wait for the child's result; raise ChecksError if the child failed."""
        try:
            said = self._proc.stdout.readline()
        except OSError:
            said = b""
        if said == DONE and self._result_file.is_file():
            return pickle.loads(self._result_file.read_bytes())
        self.close()
        raise ChecksError(
            f"the Great Expectations checks failed (worker exit {self._proc.returncode}: {self.last_error_line()}); "
            "nothing was published"
        )

    def finish(self) -> None:
        """Wait for the child to build Data Docs; a child never asked (a run with nothing new) is told
        so by the end of its input, and exits."""
        close_quietly(self._proc.stdin)
        if self._proc.poll() is None:
            self._proc.wait()

    on_success = finish


def main() -> int:
    signal = os.fdopen(os.dup(1), "wb")  # stdout is the parent's signal; anything printed goes to stderr
    os.dup2(2, 1)
    preload()
    try:
        work_db, gx_dir, docs_dir, suites, out = pickle.load(sys.stdin.buffer)
    except EOFError:  # the parent stopped before the checks (dbt failed): nothing to do
        return 0

    def validated(result: QualityResult) -> None:
        write_replacing(out, pickle.dumps(result))
        signal.write(DONE)
        signal.flush()

    run_checkpoint(work_db, gx_dir, docs_dir, suites, validated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
