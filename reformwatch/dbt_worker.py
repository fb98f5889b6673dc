"""dbt in a child process that imports dbt and parses the project while the pipeline ingests.

dbt's import and parse cost seconds per run whatever the data. The child does both at the start of a
run (parsing does not open the work database, which the ingest holds), then waits for one request on
stdin, runs it with the parsed manifest (saying on stdout each time a node finishes, for the parent's
progress lines), writes the outcome to a file and exits, which releases the work database. A run with
nothing new stops the child unused. If the child dies, the run fails with the child's last error line.
A child whose parent has died kills itself, so a killed run leaves no build holding the work database.
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .child_worker import ChildWorker, write_replacing
from .dbt_runner import DbtError, DbtResult, Progress, invoke, parse, use_work_db
from .scratch import scratch_prefix

log = logging.getLogger(__name__)


class DbtWorker(ChildWorker):
    """One dbt invocation in a child process started early; a context manager around a run.

    Leaving the block stops the child if it still runs (nothing to build, or an error).
    """

    def __init__(self, work_db: Path, work_dir: Path, command: list[str] | None = None) -> None:
        self.work_db, self.work_dir = work_db, work_dir
        work_dir.mkdir(parents=True, exist_ok=True)
        work_db.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(  # in the work database's folder, where the profile finds it (dbt_runner.PARSE_TARGET)
            command or [sys.executable, "-m", "reformwatch.dbt_worker", str(work_db), str(work_dir)],
            scratch_prefix("dbt"),
            stdout=subprocess.PIPE,
            cwd=work_db.parent,
        )

    def run(self, args: list[str], env: dict[str, str] | None = None, progress: Progress | None = None) -> DbtResult:
        """`dbt <args>` in the child, with `env` set for it; raise DbtError when dbt fails or the child dies.

        `progress(finished, selected)` is called as the child's nodes finish."""
        out = self.scratch / "outcome.pickle"
        try:
            self._proc.stdin.write(pickle.dumps((args, env or {}, out)))
            self._proc.stdin.close()
        except OSError:  # the child died before it read the request
            pass
        for line in self._proc.stdout:  # until the child exits: "<finished> <selected>" per node
            done, _, total = line.decode(errors="replace").partition(" ")
            if progress and done.isdigit() and total.strip().isdigit():
                progress(int(done), int(total))
        self._proc.wait()
        if not out.is_file():
            raise DbtError(f"the dbt worker failed (exit {self._proc.returncode}: {self.last_error_line()})")
        ok, value = pickle.loads(out.read_bytes())
        if not ok:
            raise DbtError(value)
        return value


def run_dbt(
    args: list[str], work_db: Path, work_dir: Path, env: dict[str, str] | None = None, progress: Progress | None = None
) -> DbtResult:
    """`dbt <args>` against work_db in a worker process of its own (commands outside a refresh, e.g. docs)."""
    with DbtWorker(work_db, work_dir) as worker:
        return worker.run(args, env, progress)


def _die_with_parent(parent: int) -> None:
    """Kill this process once its parent has gone (the child is then re-parented): no orphaned build
    goes on holding the work database after a killed run."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    work_db, work_dir = (Path(a).resolve() for a in (argv or sys.argv[1:]))
    _die_with_parent(os.getppid())
    said = os.fdopen(os.dup(1), "wb")  # stdout tells the parent of progress; anything printed goes to stderr
    os.dup2(2, 1)

    def progress(done: int, total: int) -> None:
        said.write(f"{done} {total}\n".encode())
        said.flush()

    use_work_db(work_db)
    manifest = parse(work_dir)
    try:
        args, env, out = pickle.load(sys.stdin.buffer)
    except EOFError:  # the parent had nothing to run
        return 0
    os.environ.update(env)
    try:
        outcome = (True, invoke(args, work_dir, manifest=manifest, progress=progress))
    except DbtError as e:
        outcome = (False, str(e))
    write_replacing(out, pickle.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
