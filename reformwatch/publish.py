"""One writer at a time, and atomic publication of the analysts' warehouse."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from .csvload import sql_str

log = logging.getLogger(__name__)

PUBLISHED_SCHEMAS = ("marts", "dq")


class LockTimeout(Exception):
    """Another refresh held the warehouse for longer than the wait allowed."""


_held: dict[str, int] = {}  # lock files this process holds -> nesting depth


@contextlib.contextmanager
def refresh_lock(lock_file: Path, timeout_s: float, say: Callable[[str], None] = log.info) -> Iterator[float]:
    """Hold an exclusive lock on lock_file (released by the OS if the process dies); re-entrant.

    Yields the seconds spent waiting for another refresh.
    """
    key = str(lock_file.resolve())
    if _held.get(key):
        _held[key] += 1
        try:
            yield 0.0
        finally:
            _held[key] -= 1
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        started = time.monotonic()
        deadline = started + timeout_s
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"another refresh of this warehouse is running ({holder}) and did not finish within "
                        f"{timeout_s:.0f} s; try again later, or raise REFORMWATCH_LOCK_TIMEOUT"
                    ) from None
                if not announced:
                    say(f"waiting for another refresh of this warehouse to finish ({holder}) ...")
                    announced = True
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        _held[key] = 1
        try:
            yield time.monotonic() - started
        finally:
            _held.pop(key, None)
    finally:
        os.close(fd)  # closing the descriptor releases the flock


# In the analysts' copy, row-level exam issues lose the examinee id and the submitted value.
REDACTED_ISSUES = """
    select * replace (
        case when source = 'exam' and row_number is not null
             then coalesce(file_path, '') || ', row ' || row_number || ': '
                  || (select description from dq.checks c where c.check_name = i.check_name)
             else detail end as detail)
    from dq.issues i"""


def publish(
    work_db: Path,
    warehouse: Path,
    *,
    runs: list[dict] | None = None,
    hook: Callable[[str], None] | None = None,
    analyst_copy: Path | None = None,
) -> None:
    """Copy the published schemas of work_db into a new file, then rename it over warehouse.

    Readers holding the old file keep reading it; new readers see the new version; a crash at any
    point leaves either the old or the new file, never a partial one. With analyst_copy, also
    publish a copy without any individual's data (marts, redacted dq): both copies are written at
    the same time (two DuckDB connections), and renamed into place only once both are complete.
    """
    con = duckdb.connect(str(work_db))  # the refresh lock is held: no other process has it open
    try:
        copies = [(warehouse, "pub", False, runs)]
        if analyst_copy is not None:
            copies.append((analyst_copy, "pub_analyst", True, None))
        with ThreadPoolExecutor(len(copies)) as pool:
            written = [
                pool.submit(_write_copy, con.cursor(), target, alias, redact=redact, runs=copy_runs)
                for target, alias, redact, copy_runs in copies
            ]
            tmps = [w.result() for w in written]  # the first failure propagates; nothing was renamed
    finally:
        con.close()
    for (target, *_), tmp in zip(copies, tmps):
        if hook and target == warehouse:
            hook("publish")
        os.replace(tmp, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _write_copy(
    con: duckdb.DuckDBPyConnection, target: Path, alias: str, *, redact: bool, runs: list[dict] | None
) -> Path:
    """Write the published schemas of con's database into a new file beside target (synced); return it."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.publishing")
        for stale in (tmp, tmp.with_name(tmp.name + ".wal")):
            stale.unlink(missing_ok=True)
        committed = False
        try:
            con.execute(f"attach {sql_str(str(tmp))} as {alias}")
            tables = con.execute(
                "select schema_name, table_name from duckdb_tables() "
                f"where database_name = current_database() and schema_name in {PUBLISHED_SCHEMAS} "
                "order by schema_name, table_name"
            ).fetchall()
            con.execute("begin")  # one commit for the whole copy (tables, hundreds of comments, history)
            for schema in PUBLISHED_SCHEMAS:
                con.execute(f"create schema if not exists {alias}.{schema}")
            for schema, table in tables:
                source = f"select * from {schema}.{table}"
                if redact and (schema, table) == ("dq", "issues"):
                    source = REDACTED_ISSUES
                elif redact and (schema, table) == ("dq", "expectation_results"):
                    source = "select * exclude (unexpected_examples) from dq.expectation_results"
                con.execute(f"create table {alias}.{schema}.{table} as {source}")
            copy_comments(con, alias)
            if runs is not None:
                from .ops import write_runs_table

                write_runs_table(con, f"{alias}.ops", runs)
            con.execute("commit")
            committed = True
        finally:
            if not committed:
                with contextlib.suppress(duckdb.Error):  # no transaction yet if attach failed
                    con.execute("rollback")
            with contextlib.suppress(duckdb.Error):
                con.execute(f"detach {alias}")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        return tmp
    finally:
        con.close()


def copy_comments(con: duckdb.DuckDBPyConnection, target: str) -> None:
    """Carry table and column descriptions (COMMENT ON, from dbt's persist_docs) into the copy."""
    for schema, table, comment in con.execute(
        "select schema_name, table_name, comment from duckdb_tables() "
        f"where database_name = current_database() and schema_name in {PUBLISHED_SCHEMAS} and comment is not null"
    ).fetchall():
        con.execute(f"comment on table {target}.{schema}.{table} is {sql_str(comment)}")
    target_columns = {
        (s, t, c)
        for s, t, c in con.execute(
            f"select schema_name, table_name, column_name from duckdb_columns() where database_name = '{target}'"
        ).fetchall()
    }
    for schema, table, column, comment in con.execute(
        "select schema_name, table_name, column_name, comment from duckdb_columns() "
        f"where database_name = current_database() and schema_name in {PUBLISHED_SCHEMAS} and comment is not null"
    ).fetchall():
        if (schema, table, column) not in target_columns:  # left out of a redacted copy
            continue
        con.execute(f'comment on column {target}.{schema}.{table}."{column}" is {sql_str(comment)}')
