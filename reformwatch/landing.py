"""Scan a landing zone without reading file contents: names, versions, sizes, file-level rejections.

Python lists the folders and stats each file (one system call per file); DuckDB parses the names and
applies the name-level checks to all files at once (200,000 files: no Python work per file beyond
the stat).
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

from .contract import FILE_NAME_RE, KINDS
from .csvload import insert_columns, sql_str, text_array

log = logging.getLogger(__name__)


@dataclass(slots=True)
class LandingFile:
    """One file found in a round's progress/ or exam/ folder."""

    path: str  # relative to the landing root, '/' separators
    round_id: str
    kind: str
    unit_code: str | None
    version: int | None
    ext: str | None
    size: int
    mtime_ns: int


@dataclass
class Listing:
    """Every entry of the round folders' progress/ and exam/ subfolders, as columns, in scan order
    (round folder, kind, file name). `rejected` holds the entries rejected while listing (odd entries,
    links leading out of the landing zone)."""

    round_id: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    size: list[int] = field(default_factory=list)
    mtime_ns: list[int] = field(default_factory=list)
    rejected: dict[int, tuple[str, str]] = field(default_factory=dict)  # position -> (check_name, detail)
    round_dirs: int = 0

    def __len__(self) -> int:
        return len(self.name)


def _special(root: Path, rel: str, path: str, st: os.stat_result) -> tuple[int, int, str | None]:
    """(size, mtime_ns, rejection) of an entry that is not a regular file: a link inside the landing
    zone to a file counts as that file; anything else is rejected."""
    if not stat.S_ISLNK(st.st_mode):
        why = f"{rel} is not a regular file (a folder or device) and was not read; "
        return st.st_size, st.st_mtime_ns, why + f"put submissions directly in {rel.rsplit('/', 1)[0]}/"
    target = Path(os.path.realpath(path))
    if target.is_relative_to(root) and target.is_file():
        st = target.stat()
        return st.st_size, st.st_mtime_ns, None
    why = f"{rel} is a link to something outside the landing zone and was not read; "
    return st.st_size, st.st_mtime_ns, why + "put the file itself in the folder"


def list_landing(landing: Path) -> Listing:
    """List and stat every file in <round>/progress/ and <round>/exam/ (links and odd entries resolved)."""
    root = landing.resolve()
    out = Listing()
    with os.scandir(root) as it:
        round_dirs = sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
    out.round_dirs = len(round_dirs)
    regular = stat.S_IFREG
    for round_id in round_dirs:
        for kind in KINDS:
            folder = root / round_id / kind
            if folder.is_symlink() or not folder.is_dir():
                continue
            try:
                fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:  # removed since the round folder was listed
                continue
            try:
                names = sorted(os.listdir(fd))
                sizes, mtimes = out.size, out.mtime_ns
                start = len(out.name)
                gone: list[str] = []
                for name in names:
                    try:
                        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    except FileNotFoundError:  # removed since the folder was listed: not part of this run
                        gone.append(name)
                        continue
                    if stat.S_IFMT(st.st_mode) == regular:
                        sizes.append(st.st_size)
                        mtimes.append(st.st_mtime_ns)
                        continue
                    rel = f"{round_id}/{kind}/{name}"
                    size, mtime, rejection = _special(root, rel, str(folder / name), st)
                    sizes.append(size)
                    mtimes.append(mtime)
                    if rejection:
                        out.rejected[len(sizes) - 1] = ("unreadable_file", rejection)
            finally:
                os.close(fd)
            if gone:
                dropped = set(gone)
                names = [n for n in names if n not in dropped]
            out.name += names
            out.round_id += [round_id] * (len(out.name) - start)
            out.kind += [kind] * (len(out.name) - start)
    return out


# The contract's file name rule in DuckDB's (RE2) syntax: the same pattern as contract.FILE_NAME_RE.
_NAME_RE = FILE_NAME_RE.pattern.replace("(?P<unit>", "(").replace("(?P<version>", "(").replace("(?P<ext>", "(")


def stage_scan(con: duckdb.DuckDBPyConnection, listing: Listing, max_file_bytes: int) -> None:
    """The scan as temp table landing_scanned (idx = position in scan order; path relative to the
    landing root; unit_code, version, ext from the name; check_name/detail when rejected).

    The registries are those in raw.units, raw.rounds and raw.scope (registry.load_registries). The
    name-level checks, in order: not a regular file, name rule, round not registered, unit not
    registered, unit not in the round's scope, two files for one version, file over the size limit.
    """
    n = len(listing)
    con.execute(
        "create or replace temp table _listed (idx bigint, round_id varchar, kind varchar, name varchar, "
        "size bigint, mtime_ns bigint)"
    )
    insert_columns(
        con,
        "_listed",
        {
            "idx": np.arange(n, dtype=np.int64),
            "round_id": text_array(listing.round_id),
            "kind": text_array(listing.kind),
            "name": text_array(listing.name),
            "size": np.array(listing.size, dtype=np.int64),
            "mtime_ns": np.array(listing.mtime_ns, dtype=np.int64),
        },
    )
    con.execute("create or replace temp table _rejected (idx bigint, check_name varchar, detail varchar)")
    if listing.rejected:
        got = listing.rejected
        insert_columns(
            con,
            "_rejected",
            {"idx": list(got), "check_name": [r[0] for r in got.values()], "detail": [r[1] for r in got.values()]},
        )
    limit_mb = f"{max_file_bytes / 1e6:.0f}"
    con.execute(
        f"""
        create or replace temp table landing_scanned as
        with named as (
            select l.*, r.check_name, r.detail, l.round_id || '/' || l.kind || '/' || l.name as path,
                   regexp_extract(l.name, {sql_str(_NAME_RE)}, ['unit', 'version', 'ext']) as m
            from _listed l left join _rejected r using (idx)
        ), parsed as (
            select idx, path, round_id, kind, name, size, mtime_ns, check_name, detail,
                   case when ok then nullif(m.unit, '') end as unit_code,
                   case when ok then version end as version,
                   case when ok then nullif(m.ext, '') end as ext
            from (select *, case when m.unit = '' then null when m.version = '' then 1
                                 else try_cast(m.version as integer) end as version,
                             coalesce(version >= 1, false) as ok
                  from named)
        ), checked as (
            select p.* replace (
                coalesce(p.check_name, case
                    when p.unit_code is null then 'unreadable_file'
                    when r.round_id is null or u.unit_code is null or s.unit_code is null
                        then 'unknown_unit' end) as check_name,
                coalesce(p.detail, case
                    when p.unit_code is null then
                        'file name ''' || p.name || ''' in ' || p.round_id || '/' || p.kind || '/ does not follow '
                        || 'the rule UNITCODE.csv, UNITCODE.xlsx or UNITCODE__v2.csv (capital letters, digits '
                        || 'and _ only, lower-case extension); rename it, e.g. POLICE.csv'
                    when r.round_id is null then
                        p.path || ': folder ' || p.round_id || '/ is not a round listed in rounds.csv, so no unit '
                        || 'is in its scope; the file was not read. Move it to its round''s folder, or ask the '
                        || 'office to add the round'
                    when u.unit_code is null then
                        p.path || ': unit code ' || p.unit_code || ' is not in units.csv; the file was not read. '
                        || 'Check the code in the file name against the office''s unit list'
                    when s.unit_code is null then
                        p.path || ': unit ' || p.unit_code || ' (' || u.unit_name || ') is not in scope.csv of '
                        || 'round ' || p.round_id || '; the file was not read. Check the round folder, or ask '
                        || 'the office to add the unit to the round' end) as detail)
            from parsed p
            left join (select distinct raw.strip(round_id) as round_id from raw.rounds) r on r.round_id = p.round_id
            left join (select raw.strip(unit_code) as unit_code, any_value(raw.strip(unit_name)) as unit_name
                       from raw.units group by 1) u on u.unit_code = p.unit_code
            left join (select distinct round_id, unit_code from raw.scope) s
                   on s.round_id = p.round_id and s.unit_code = p.unit_code
        ), counted as (
            select *, count(*) filter (where check_name is null)
                          over (partition by round_id, kind, unit_code, version) as same_version
            from checked
        )
        select idx, path, round_id, kind, unit_code, version, ext, size, mtime_ns,
               coalesce(check_name, case when same_version > 1 or size > $max_bytes then 'unreadable_file' end)
                   as check_name,
               coalesce(detail, case
                   when same_version > 1 then
                       path || ': ambiguous version: another file in ' || round_id || '/' || kind || '/ is also '
                       || 'version ' || version || ' of ' || unit_code || ' (e.g. both .csv and .xlsx); neither '
                       || 'is used. Keep one of them, or send the correction as the next version (__v2, __v3, ...)'
                   when size > $max_bytes then
                       path || ': the file is ' || printf('%.0f', size / 1e6) || ' MB, over the {limit_mb} MB '
                       || 'limit, and was not read; a submission is a few kB: send only the template''s sheet'
                   end) as detail
        from counted
        order by idx
        """,
        {"max_bytes": max_file_bytes},
    )
    con.execute("drop table _listed; drop table _rejected")


def scan(con: duckdb.DuckDBPyConnection, landing: Path, max_file_bytes: int) -> int:
    """List the landing zone into temp table landing_scanned (see stage_scan); the number of files."""
    listing = list_landing(landing)
    stage_scan(con, listing, max_file_bytes)
    log.info("scanned %s: %d submission files in %d round folders", landing, len(listing), listing.round_dirs)
    return len(listing)
