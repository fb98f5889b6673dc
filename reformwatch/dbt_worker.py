"""dbt in a child process that imports dbt and parses the project while the pipeline ingests.

dbt's import and parse cost about 3 s per run whatever the data. The child does both at the start of
a run (parsing does not open the work database, which ingest holds) and compiles the macros the last
build used (dbt_runner.warm_up), then waits for one build request on stdin, builds with the parsed
manifest (saying on stdout each time a node finishes, for the parent's progress lines), writes the
outcome to a file and exits, so the work database is free again when the parent reads the outcome. A
run with nothing new stops the child unused. If the child fails, the build runs
again in this process, so an error surfaces with its own traceback. The child dies with its parent
(Linux), so a killed run leaves no build behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

from .child_worker import ChildWorker, exit_now, leave_start_folder, no_gc_while_loading, write_replacing
from .dbt_runner import DbtError, DbtResult, Progress, parse_project, run_dbt, warm_up
from .scratch import scratch_prefix

log = logging.getLogger(__name__)


class DbtWorker(ChildWorker):
    """One dbt invocation in a child process started early; a context manager around a run.

    Leaving the block stops the child if it still runs (nothing to build, or an error).
    """

    def __init__(self, work_db: Path, work_dir: Path, command: list[str] | None = None) -> None:
        self.work_db, self.work_dir = work_db, work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(
            command or [sys.executable, "-m", "reformwatch.dbt_worker", str(work_db), str(work_dir)],
            scratch_prefix("dbt"),
            stdout=subprocess.PIPE,
        )

    def run(self, args: list[str], env: dict[str, str] | None = None, progress: Progress | None = None) -> DbtResult:
        """`dbt <args>` (see dbt_runner.run_dbt) in the child; in this process if the child failed.

        `progress(finished, selected)` is called as the child's nodes finish."""
        out = self.scratch / "outcome.pickle"
        try:
            self._proc.stdin.write(pickle.dumps((args, env, out)))
            self._proc.stdin.close()
        except OSError:  # the child died before it read the request
            pass
        for line in self._proc.stdout:  # until the child exits: "<finished> <selected>" per node
            done, _, total = line.decode(errors="replace").partition(" ")
            if progress and done.isdigit() and total.strip().isdigit():
                progress(int(done), int(total))
        self._proc.wait()
        if out.is_file():
            ok, value = pickle.loads(out.read_bytes())
            if ok:
                return value
            raise DbtError(value)
        log.warning(
            "the dbt worker failed (exit %s: %s); running dbt in this process",
            self._proc.returncode,
            self.last_error_line(),
        )
        return run_dbt(args, self.work_db, self.work_dir, env=env, progress=progress)


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (no orphaned build holding the work database)."""
    with contextlib.suppress(Exception):  # not Linux: the child still exits when stdin closes
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before prctl
        raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    work_db, work_dir = (Path(a) for a in (argv or sys.argv[1:]))
    _die_with_parent()
    said = os.fdopen(os.dup(1), "wb")  # stdout tells the parent of progress; anything printed goes to stderr
    os.dup2(2, 1)

    def progress(done: int, total: int) -> None:
        said.write(f"{done} {total}\n".encode())
        said.flush()

    with no_gc_while_loading():
        try:
            manifest = parse_project(work_db, work_dir)
        except DbtError as e:  # the build parses again and reports the error with its context
            log.warning("%s", e)
            manifest = None
        if manifest is not None:
            try:
                warm_up(manifest, work_db)
            except Exception:  # an optimisation only: the build does the same work if this fails
                log.debug("dbt warm-up failed", exc_info=True)
    try:
        args, env, out = pickle.load(sys.stdin.buffer)
    except EOFError:  # the parent had nothing to build
        return 0
    try:
        outcome = (True, run_dbt(args, work_db, work_dir, env=env, manifest=manifest, progress=progress))
    except DbtError as e:
        outcome = (False, str(e))
    write_replacing(out, pickle.dumps(outcome))
    return 0


if __name__ == "__main__":
    leave_start_folder()
    exit_now(main())
