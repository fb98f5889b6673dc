"""One writer at a time, and atomic publication of the analysts' warehouse."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .config import connect_quietly, published_storage_version
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
             else detail end as detail,
        case when source = 'exam' and row_number is not null then null else value end as value)
    from dq.issues i"""


# What the analysts' copy holds instead of the tables with individuals' data.
REDACTED = {
    ("dq", "issues"): REDACTED_ISSUES,
    ("dq", "expectation_results"): "select * exclude (unexpected_examples) from dq.expectation_results",
}


# Tables the checks write (store_results), after the rest of the warehouse is final.
LATE = tuple(REDACTED)

# Published in this order: dq.issues as a full dbt build orders it. An incremental build appends the rows
# of the rounds it rebuilt (dbt macro by_round), and the checks append failed expectations.
PUBLISHED_ORDER = {
    ("dq", "issues"): (
        "round_id",
        "unit_code nulls first",
        "source",
        "file_path",
        "row_number nulls first",
        "check_name",
    )
}


@dataclass
class Staged:
    """A publication begun by stage(): a new file beside its target with every table but the LATE ones."""

    warehouse: Path
    analyst_copy: Path | None
    tmp: Path  # the analysts' new file if there is an analysts' copy, else the warehouse's

    def discard(self) -> None:
        """Remove the new file (the checks failed: nothing is published)."""
        for path in (self.tmp, _wal(self.tmp)):
            path.unlink(missing_ok=True)


def stage(work_db: Path, warehouse: Path, analyst_copy: Path | None = None) -> Staged:
    """Begin publishing the published schemas of work_db: write every table but the LATE ones into a new
    file beside its target. complete() adds them and renames the file(s) into place.

    Readers holding the old file keep reading it; new readers see the new version; a crash at any
    point leaves either the old or the new file, never a partial one. With analyst_copy, also
    publish a copy without any individual's data (marts, redacted dq). That copy is written first;
    the full copy is a byte copy of it with the REDACTED tables written again whole (about a tenth
    of the work of a second copy). Both are renamed into place only once both are complete.
    work_db is opened read-only, so the checks worker can read it meanwhile.
    """
    target, alias, redact = (analyst_copy, "pub_analyst", True) if analyst_copy else (warehouse, "pub", False)
    con = connect_quietly(work_db, read_only=True)
    try:
        tmp = _write_copy(con, target, alias, redact=redact, runs=None, skip=LATE)
    finally:
        con.close()
    return Staged(warehouse, analyst_copy, tmp)


def complete(
    staged: Staged, work_db: Path, *, runs: list[dict] | None = None, hook: Callable[[str], None] | None = None
) -> None:
    """Add the LATE tables (and the run history) to a staged publication, then rename it into place."""
    con = connect_quietly(work_db, read_only=True)
    try:
        if staged.analyst_copy is None:
            _add_tables(con, staged.tmp, "pub", LATE, redact=False, runs=runs)
            written = [(staged.warehouse, staged.tmp)]
        else:
            _add_tables(con, staged.tmp, "pub_analyst", LATE, redact=True, runs=None)
            full_tmp = _publishing_name(staged.warehouse)  # a byte copy, with the REDACTED tables whole
            shutil.copyfile(staged.tmp, full_tmp)
            _add_tables(con, full_tmp, "pub", tuple(REDACTED), redact=False, runs=runs, replace=True)
            written = [(staged.warehouse, full_tmp), (staged.analyst_copy, staged.tmp)]
    except BaseException:
        staged.discard()
        raise
    finally:
        con.close()
    for target, tmp in written:
        if hook and target == staged.warehouse:
            hook("publish")
        os.replace(tmp, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _wal(path: Path) -> Path:
    """DuckDB's write-ahead log of the database file `path`."""
    return path.with_name(path.name + ".wal")


def _publishing_name(target: Path) -> Path:
    """The new file beside target, with no stale copy (or its WAL) left by a crashed run."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.publishing")
    for stale in (tmp, _wal(tmp)):
        stale.unlink(missing_ok=True)
    return tmp


def _work_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """The published schemas' tables in con's own database, as (schema, table), in order."""
    return con.execute(
        "select schema_name, table_name from duckdb_tables() "
        f"where database_name = current_database() and schema_name in {PUBLISHED_SCHEMAS} "
        "order by schema_name, table_name"
    ).fetchall()


def attach_published(con: duckdb.DuckDBPyConnection, path: Path, alias: str) -> None:
    """Attach a published file (new or existing) for writing, in the published storage format."""
    version = sql_str(published_storage_version())
    con.execute(f"attach {sql_str(str(path))} as {alias} (read_only false, storage_version {version})")


@contextlib.contextmanager
def _attached(con: duckdb.DuckDBPyConnection, path: Path, alias: str) -> Iterator[None]:
    """`path` attached as `alias` inside one transaction (one commit for tables, comments, history);
    committed if the block succeeds, else rolled back. Once committed, everything is checkpointed
    into the file itself (it is then copied or renamed without a WAL) and the file is synced."""
    committed = False
    try:
        attach_published(con, path, alias)  # con may be read-only
        con.execute("begin")
        yield
        con.execute("commit")
        committed = True
        con.execute(f"checkpoint {alias}")
    finally:
        if not committed:
            with contextlib.suppress(duckdb.Error):  # no transaction yet if attach failed
                con.execute("rollback")
        with contextlib.suppress(duckdb.Error):
            con.execute(f"detach {alias}")
    if _wal(path).exists():
        raise RuntimeError(f"{path} was not fully written (its WAL is left beside it); nothing was published")
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _write_copy(
    con: duckdb.DuckDBPyConnection,
    target: Path,
    alias: str,
    *,
    redact: bool,
    runs: list[dict] | None,
    skip: tuple[tuple[str, str], ...] = (),
) -> Path:
    """Write the published schemas of con's database (but the `skip` tables) into a new file beside
    target (synced); return it."""
    tmp = _publishing_name(target)
    with _attached(con, tmp, alias):
        for schema in PUBLISHED_SCHEMAS:
            con.execute(f"create schema if not exists {alias}.{schema}")
        _create_tables(con, alias, [t for t in _work_tables(con) if t not in skip], redact=redact)
        copy_comments(con, alias)
        _write_runs(con, alias, runs)
    return tmp


def _add_tables(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    alias: str,
    tables: tuple[tuple[str, str], ...],
    *,
    redact: bool,
    runs: list[dict] | None,
    replace: bool = False,
) -> None:
    """Add `tables` (those con's database has) to a file written by _write_copy, or replace them in it
    (synced)."""
    with _attached(con, path, alias):
        present = set(_work_tables(con))
        _create_tables(con, alias, [t for t in tables if t in present], redact=redact, replace=replace)
        copy_comments(con, alias)
        _write_runs(con, alias, runs)


def _create_tables(
    con: duckdb.DuckDBPyConnection, alias: str, tables: list[tuple[str, str]], *, redact: bool, replace: bool = False
) -> None:
    create = "create or replace table" if replace else "create table"
    for schema, table in tables:
        source = (REDACTED.get((schema, table)) if redact else None) or f"select * from {schema}.{table}"
        con.execute(f"{create} {alias}.{schema}.{table} as {_in_published_order(schema, table, source)}")


def _in_published_order(schema: str, table: str, source: str) -> str:
    """`source`, ordered by the table's PUBLISHED_ORDER if it has one."""
    keys = PUBLISHED_ORDER.get((schema, table))
    return f"select * from ({source}) order by {', '.join(keys)}" if keys else source


def _write_runs(con: duckdb.DuckDBPyConnection, alias: str, runs: list[dict] | None) -> None:
    if runs is not None:
        from .ops import write_runs_table

        write_runs_table(con, f"{alias}.ops", runs)


def copy_comments(con: duckdb.DuckDBPyConnection, target: str) -> None:
    """Carry table and column descriptions (COMMENT ON, from dbt's persist_docs) into the copy."""
    target_tables = set(
        con.execute(f"select schema_name, table_name from duckdb_tables() where database_name = '{target}'").fetchall()
    )
    for schema, table, comment in con.execute(
        "select schema_name, table_name, comment from duckdb_tables() "
        f"where database_name = current_database() and schema_name in {PUBLISHED_SCHEMAS} and comment is not null"
    ).fetchall():
        if (schema, table) in target_tables:  # not yet written (LATE), or left out
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
