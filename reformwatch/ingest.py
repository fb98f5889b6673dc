"""Load new or changed landing files into append-only raw tables.

Every file version is kept (raw.files: path, size, mtime, sha256, load time); rows are kept as
text (raw.progress_rows, raw.exam_rows). Files already loaded (same path, size and mtime) are not
read again. Files are read, hashed and decoded in chunks (file_prep; in worker processes when there
are many: prep_worker). The common case, a CSV with the template's header, is parsed by DuckDB in one
bulk pass over a chunk's files of a kind; other files (other column orders, quoted cells, rows the
bulk pass rejects) go through a per-file DuckDB read.
"""

from __future__ import annotations

import bisect
import logging
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np

from . import sql_functions
from .contract import ALL_COLUMNS, KINDS, REQUIRED_COLUMNS
from .csvload import insert_columns, insert_rows, sql_str
from .decode import DecodeError, read_table
from .file_prep import BulkStream, PreparedChunk, PreparedFile
from .landing import LandingFile, scan
from .prep_worker import PrepWorkers, worker_count
from .scratch import scratch_prefix

log = logging.getLogger(__name__)

RAW_DDL = f"""
create schema if not exists raw;
create table if not exists raw.files (
    file_id bigint, path varchar, round_id varchar, kind varchar, unit_code varchar,
    version integer, ext varchar, size bigint, mtime_ns bigint, sha256 varchar,
    loaded_at timestamptz, run_id varchar, encoding varchar, parse_path varchar,
    read_error varchar, n_rows bigint);
create table if not exists raw.progress_rows (file_id bigint, row_number bigint,
    {", ".join(f"{c} varchar" for c in ALL_COLUMNS["progress"])});
create table if not exists raw.exam_rows (file_id bigint, row_number bigint,
    {", ".join(f"{c} varchar" for c in ALL_COLUMNS["exam"])});
create table if not exists raw.landing_files (path varchar, round_id varchar, kind varchar,
    unit_code varchar, version integer, ext varchar, size bigint, mtime_ns bigint,
    file_id bigint, check_name varchar, detail varchar, first_seen_at timestamptz);
create table if not exists raw.run_params (as_of timestamptz);
"""


@dataclass(slots=True)
class _NewFile:
    f: LandingFile
    file_id: int
    sha256: str
    encoding: str | None = None
    parse_path: str | None = None
    read_error: str | None = None
    rows: list[list[str | None]] | None = None  # per_file: the data rows, until they are loaded
    n_rows: int = 0

    @classmethod
    def of(cls, f: LandingFile, file_id: int, p: PreparedFile) -> _NewFile:
        return cls(f, file_id, p.sha256, p.encoding, p.parse_path, p.read_error, p.rows)


@dataclass
class IngestResult:
    files_seen: int = 0
    files_read: int = 0
    files_rejected: int = 0
    rows_loaded: int = 0
    changed_rounds: set[str] = field(default_factory=set)
    landed_signature: str = ""  # a digest of the landing zone's files (_landed_signature)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(RAW_DDL)
    sql_functions.install(con)


def _bulk_enabled() -> bool:
    """REFORMWATCH_INGEST_PER_FILE=1 parses every file on its own (the fallback path), for comparisons."""
    return os.environ.get("REFORMWATCH_INGEST_PER_FILE") != "1"


def _nonblank(cols: tuple[str, ...]) -> str:
    """A row with a cell that is not empty or spaces (DuckDB stops at the first such cell)."""
    return " or ".join(f"raw.strip({c}) <> ''" for c in cols)


def _bulk_load(
    con: duckdb.DuckDBPyConnection, kind: str, stream: BulkStream, files: dict[int, _NewFile], base: int
) -> None:
    """Parse a chunk's bulk stream of a kind in one DuckDB pass straight into raw.<kind>_rows; the files
    it rejects are marked per_file (their rows deleted), with their text read back from the stream.

    `files`: the chunk's new files by their number in the stream; file_id = base + number. Each line
    carries its row's number in the file, so no temporary table is needed to number the rows (at a
    national scale it and its join cost about 1 CPU s per 1M rows)."""
    cols = ALL_COLUMNS[kind]
    columns = "{'number': 'BIGINT', 'row_number': 'BIGINT', " + ", ".join(f"'{c}': 'VARCHAR'" for c in cols) + "}"
    con.execute(
        f"""insert into raw.{kind}_rows
            select number + {int(base)}, row_number, {", ".join(cols)}
            from read_csv({sql_str(stream.path)}, header = false, columns = {columns}, auto_detect = false,
                          delim = ',', quote = '"', escape = '"',
                          store_rejects = true, rejects_scan = '_bulk_scan', rejects_table = '_bulk_rejects')
            where {_nonblank(cols)}"""
    )  # in stream order, so a file's rows stay together
    rejected_lines = [r[0] for r in con.execute("select distinct line from _bulk_rejects").fetchall()]
    bad = {stream.numbers[bisect.bisect_right(stream.starts, ln) - 1] for ln in rejected_lines}
    con.execute("drop table if exists _bulk_rejects; drop table if exists _bulk_scan")
    if bad:
        con.execute(f"delete from raw.{kind}_rows where file_id in ({', '.join(str(base + n) for n in bad)})")
    for number in sorted(bad):  # parsed alone, in Python: the reason goes to the sender
        nf = files[number]
        nf.parse_path = "per_file"
        try:
            nf.rows = read_table(stream.text(number, kind), cols, REQUIRED_COLUMNS[kind])
        except DecodeError as e:
            nf.read_error = f"{nf.f.path}: {e}"
    os.unlink(stream.path)


def _per_file_load(con: duckdb.DuckDBPyConnection, kind: str, files: list[_NewFile]) -> None:
    """Insert the rows that Python parsed (file_prep.classify, decode.read_table) of a chunk's per-file
    files of a kind, in one statement. Nothing DuckDB could reject is parsed here."""
    cols = ALL_COLUMNS[kind]
    ids: list[int] = []
    numbers: list[int] = []
    cells: list[list[str | None]] = []
    for nf in files:
        for n, row in enumerate(nf.rows or (), start=1):
            ids.append(nf.file_id)
            numbers.append(n)
            cells.append(row)
    if not ids:
        return
    insert_rows(
        con,
        f"raw.{kind}_rows",
        cols,
        cells,
        file_id=np.array(ids, dtype=np.int64),
        row_number=np.array(numbers, dtype=np.int64),
    )


CHUNK_FILES = 5_000  # files prepared and parsed per DuckDB pass (bounds the memory held in Python)


def _load_chunk(
    con: duckdb.DuckDBPyConnection,
    chunk: list[_NewFile],
    prepared: PreparedChunk,
    base: int,
    run: tuple[str, datetime],
) -> None:
    """Parse a chunk of new files into raw rows (one bulk pass per kind + per-file fallbacks), free their
    text, and add the files to raw.files (`run`: the run's id and load time)."""
    by_number = {nf.file_id - base: nf for nf in chunk}
    for kind in KINDS:
        stream = prepared.streams.get(kind)
        if stream:
            _bulk_load(con, kind, stream, by_number, base)  # marks the files it rejects per_file
        _per_file_load(
            con, kind, [nf for nf in chunk if nf.f.kind == kind and nf.parse_path == "per_file" and not nf.read_error]
        )
    for nf in chunk:
        nf.rows = None
    _record_files(con, chunk, *run)


def _record_files(con: duckdb.DuckDBPyConnection, chunk: list[_NewFile], run_id: str, loaded_at: datetime) -> None:
    """Count the rows each new file of a chunk gave and add the files to raw.files (in the loader thread,
    while the next chunk is prepared: at a national scale, 200,000 rows written after the last chunk
    were half a second on one core)."""
    if not chunk:
        return
    first = chunk[0].file_id  # file ids are consecutive within a chunk and grow from chunk to chunk
    for kind in KINDS:
        if any(nf.f.kind == kind for nf in chunk):
            counts = dict(
                con.execute(
                    f"select file_id, count(*) from raw.{kind}_rows where file_id >= ? group by 1", [first]
                ).fetchall()
            )
            for nf in chunk:
                if nf.f.kind == kind and not nf.read_error:
                    nf.n_rows = counts.get(nf.file_id, 0)
    insert_columns(
        con,
        "raw.files",
        {
            "file_id": [nf.file_id for nf in chunk],
            "path": [nf.f.path for nf in chunk],
            "round_id": [nf.f.round_id for nf in chunk],
            "kind": [nf.f.kind for nf in chunk],
            "unit_code": [nf.f.unit_code for nf in chunk],
            "version": [nf.f.version for nf in chunk],
            "ext": [nf.f.ext for nf in chunk],
            "size": [nf.f.size for nf in chunk],
            "mtime_ns": [nf.f.mtime_ns for nf in chunk],
            "sha256": [nf.sha256 for nf in chunk],
            "loaded_at": [loaded_at] * len(chunk),
            "run_id": [run_id] * len(chunk),
            "encoding": [nf.encoding for nf in chunk],
            "parse_path": [nf.parse_path for nf in chunk],
            "read_error": [nf.read_error for nf in chunk],
            "n_rows": [nf.n_rows for nf in chunk],
        },
    )


LANDING_COLUMNS = (
    "path",
    "round_id",
    "kind",
    "unit_code",
    "version",
    "ext",
    "size",
    "mtime_ns",
    "file_id",
    "check_name",
    "detail",
)


def _match_loads(con: duckdb.DuckDBPyConnection) -> None:
    """The scan (landing_scanned) as temp table landing_scan, with file_id.

    A readable file whose latest load has the same size and modification time gets that load's
    file_id; the others (file_id null) are read. DuckDB compares the 200,000 files, not Python.
    """
    con.execute(
        """create or replace temp table landing_scan as
           select s.*, case when s.check_name is null then f.file_id end as file_id
           from landing_scanned s
           left join (select path, size, mtime_ns, file_id from raw.files
                      qualify row_number() over (partition by path order by file_id desc) = 1) f
             on f.path = s.path and f.size = s.size and f.mtime_ns = s.mtime_ns"""
    )
    con.execute("drop table landing_scanned")


def _to_read(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple[int, LandingFile]], dict[tuple[str, str], int]]:
    """(position in the scan, file) of the readable files to read, and (path, sha256) -> file_id of
    earlier loads of their paths."""
    todo = [
        (r[0], LandingFile(*r[1:]))
        for r in con.execute(
            """select idx, path, round_id, kind, unit_code, version, ext, size, mtime_ns
               from landing_scan where check_name is null and file_id is null order by idx"""
        ).fetchall()
    ]
    loads = con.execute(
        """select path, sha256, file_id from raw.files
           where path in (select path from landing_scan where check_name is null and file_id is null)
           order by file_id"""
    ).fetchall()
    return todo, {(p, h): i for p, h, i in loads}


def _update_landing_files(con: duckdb.DuckDBPyConnection, assigned: dict[int, int], loaded_at: datetime) -> None:
    """Make raw.landing_files the scan (one row per path), writing only the rows that differ.

    `assigned`: file_id of each file read this run, by its position in the scan. A (path, file_id)
    keeps the first_seen_at it had; a new one is first seen now.
    """
    if assigned:
        con.execute("create or replace temp table landing_assigned (idx bigint, file_id bigint)")
        insert_columns(con, "landing_assigned", {"idx": list(assigned), "file_id": list(assigned.values())})
        con.execute("update landing_scan s set file_id = a.file_id from landing_assigned a where a.idx = s.idx")
        con.execute("drop table landing_assigned")
    cols = ", ".join(LANDING_COLUMNS)
    con.execute(
        f"""create or replace temp table landing_added as
            select a.*, p.first_seen_at
            from (select {cols} from landing_scan except select {cols} from raw.landing_files) as a
            left join raw.landing_files p on p.path = a.path and p.file_id is not distinct from a.file_id"""
    )
    con.execute(
        f"""delete from raw.landing_files where path in (
              select path from (select {cols} from raw.landing_files except select {cols} from landing_scan))"""
    )  # paths whose row changed or that left the landing zone
    con.execute(
        "insert into raw.landing_files by name select * replace (coalesce(first_seen_at, $1) as first_seen_at) "
        "from landing_added",
        [loaded_at],
    )
    con.execute("drop table landing_added")


def _landed_signature(con: duckdb.DuckDBPyConnection) -> str:
    """A digest of the scan: every file's path, file_id (its content), and rejection with its message
    (which may change with the registries, e.g. a unit added to units.csv but not to the scope)."""
    return con.execute(
        """select sha256(coalesce(string_agg(path || chr(0) || coalesce(file_id::varchar, '-') || chr(0)
                                         || coalesce(check_name, '-') || chr(0) || coalesce(detail, '-'),
                                         chr(10) order by idx), ''))
           from landing_scan"""
    ).fetchone()[0]


def _known(part: list[tuple[int, LandingFile]], by_path: dict[str, list[tuple[str, str]]]) -> set[tuple[str, str]]:
    """The (path, sha256) of earlier loads of the part's paths (`by_path`: path -> those keys)."""
    return {key for _, f in part for key in by_path.get(f.path, ())}


def ingest(
    con: duckdb.DuckDBPyConnection,
    landing: Path,
    *,
    run_id: str,
    loaded_at: datetime,
    max_file_bytes: int,
    progress: Callable[[int, int], None] | None = None,
) -> IngestResult:
    """Scan the landing zone and load what is new; one transaction.

    `progress(read, to read)` is called as each chunk of files to read is loaded, the last time with both
    equal (files that turn out to be known or gone count as read)."""
    ensure_schema(con)
    seen = scan(con, landing, max_file_bytes)
    rejected = con.execute("select count(*) from landing_scanned where check_name is not null").fetchone()[0]
    result = IngestResult(files_seen=seen, files_rejected=rejected)
    _match_loads(con)
    todo, by_hash = _to_read(con)
    next_id = (con.execute("select coalesce(max(file_id), 0) from raw.files").fetchone()[0]) + 1
    assigned: dict[int, int] = {}  # position in the scan -> file_id, for the files read now
    new: list[_NewFile] = []
    touched: list[tuple[int, int, int]] = []  # (file_id, size, mtime_ns) seen again with a new mtime
    gone: list[int] = []  # positions in the scan of files removed since: left out of this run
    unopenable: list[tuple[str, int]] = []  # (why, position in the scan) of files that could not be opened
    parts = [todo[i : i + CHUNK_FILES] for i in range(0, len(todo), CHUNK_FILES)]
    # Chunks are prepared (read, hashed, decoded, written as bulk streams: file_prep) in worker processes
    # when there are many, else here; DuckDB parses a chunk in a background thread meanwhile. The
    # connection is used by one thread at a time (the loop below does not touch it).
    with (
        tempfile.TemporaryDirectory(prefix=scratch_prefix("ingest")) as tmp_dir,
        PrepWorkers(worker_count(len(todo), CHUNK_FILES)) as workers,
        ThreadPoolExecutor(1, thread_name_prefix="ingest-load") as loader,
    ):
        root, bulk = str(landing.resolve()), _bulk_enabled()
        by_path: dict[str, list[tuple[str, str]]] = {}
        for key in by_hash:
            by_path.setdefault(key[0], []).append(key)
        jobs = (
            (root, [(f.path, f.kind, f.ext) for _, f in part], _known(part, by_path), tmp_dir, f"chunk{k}", bulk)
            for k, part in enumerate(parts)
        )
        loading: Future[None] | None = None
        handled = 0  # files of the chunks handed to the loader
        try:
            for part, prepared in zip(parts, workers.map(jobs), strict=True):
                base, chunk = next_id, []
                for (idx, f), p in zip(part, prepared.files, strict=True):
                    if p.gone:
                        gone.append(idx)
                        continue
                    if p.unopenable:
                        unopenable.append((p.unopenable, idx))
                        continue
                    if p.known:
                        fid = assigned[idx] = by_hash[(f.path, p.sha256)]
                        touched.append((fid, f.size, f.mtime_ns))
                        continue
                    nf = _NewFile.of(f, next_id, p)
                    next_id += 1
                    chunk.append(nf)
                    assigned[idx] = nf.file_id
                    result.changed_rounds.add(f.round_id)
                if loading is not None:
                    loading.result()
                    if progress:
                        progress(handled, len(todo))
                new += chunk
                loading = loader.submit(_load_chunk, con, chunk, prepared, base, (run_id, loaded_at))
                handled += len(part)
        finally:
            if loading is not None:
                loading.result()  # the connection is free again (and a failed load raises here)
        if progress and todo:
            progress(len(todo), len(todo))
    result.files_read = len(new)
    result.rows_loaded = sum(nf.n_rows for nf in new)

    for fid, size, mtime in touched:
        con.execute("update raw.files set size = ?, mtime_ns = ? where file_id = ?", [size, mtime, fid])

    if gone:
        con.execute(f"delete from landing_scan where idx in ({', '.join(map(str, gone))})")
        result.files_seen -= len(gone)
        log.info("%d file(s) removed from the landing zone while the run read it; the next run sees them", len(gone))
    if unopenable:  # rejected like the scan's unreadable files; read again by the next run
        con.executemany("update landing_scan set check_name = 'unreadable_file', detail = ? where idx = ?", unopenable)
        result.files_rejected += len(unopenable)
        log.warning("%d landed file(s) could not be opened, e.g. %s", len(unopenable), unopenable[0][0])
    _update_landing_files(con, assigned, loaded_at)
    result.landed_signature = _landed_signature(con)
    con.execute("drop table landing_scan")
    return result
