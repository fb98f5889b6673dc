"""Read the landing zone's registries (units.csv, rounds.csv, <round>/scope.csv) into raw tables.

These files are written by the office, not by units: when one cannot be used the run stops
with a message that names the file, the rows and the fix.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .contract import ROUND_ID_RE, ROUNDS_COLUMNS, SCOPE_COLUMNS, UNIT_CODE_RE, UNITS_COLUMNS
from .csvload import insert_rows
from .decode import DecodeError, decode_csv_bytes, read_table
from .fingerprint import code_fingerprint

log = logging.getLogger(__name__)


class RegistryError(Exception):
    """A registry file cannot be used; the run cannot go on."""


@dataclass
class Registry:
    """The registered rounds; the units and each round's scope are in raw.units and raw.scope."""

    rounds: list[str] = field(default_factory=list)


def _read(con: duckdb.DuckDBPyConnection, path: Path, table: str, required: tuple[str, ...]) -> None:
    """The registry file as temp table `table`: row_number (data rows from 1) and the `required` columns,
    as text (parsed in Python, decode.read_table: nothing in the file can fail a DuckDB statement)."""
    if not path.is_file():
        raise RegistryError(f"{path} is missing: the landing zone needs it (see docs/contract.md)")
    try:
        rows = read_table(decode_csv_bytes(path.read_bytes()).text, required, required)
    except (DecodeError, OSError) as e:
        raise RegistryError(f"{path} cannot be read: {str(e).splitlines()[0]}") from None
    con.execute(
        f"create or replace temp table {table} (row_number bigint, {', '.join(f'{c} varchar' for c in required)})"
    )
    insert_rows(con, table, required, rows, row_number=list(range(1, len(rows) + 1)))


def _bad_rows(con: duckdb.DuckDBPyConnection, path: Path, sql: str) -> None:
    bad = con.execute(sql).fetchall()
    if bad:
        lines = "; ".join(f"row {r[0]}: {r[1]}" for r in bad[:5])
        more = f" (and {len(bad) - 5} more)" if len(bad) > 5 else ""
        raise RegistryError(f"{path} has invalid rows: {lines}{more}")


def registry_fingerprint(landing: Path, rounds: list[str]) -> str:
    """A digest of the registry files' bytes (units.csv, rounds.csv, each round's scope.csv) and of the
    code (a new rule validates unchanged files again)."""
    h = hashlib.sha256(code_fingerprint().encode())
    for p in [landing / "units.csv", landing / "rounds.csv", *(landing / r / "scope.csv" for r in rounds)]:
        h.update(p.read_bytes() if p.is_file() else b"-")
    return h.hexdigest()


def _stored(con: duckdb.DuckDBPyConnection) -> Registry:
    """The registries as last loaded into raw.units, raw.rounds and raw.scope."""
    return Registry(rounds=[r[0] for r in con.execute("select raw.strip(round_id) from raw.rounds").fetchall()])


def load_registries(con: duckdb.DuckDBPyConnection, landing: Path, loaded_fingerprint: str | None = None) -> Registry:
    """Validate the registries and (re)create raw.units, raw.rounds and raw.scope.

    `loaded_fingerprint`: the registry_fingerprint of what raw.* holds; while the files still match
    it, the registries are read back from raw.* instead of being validated and loaded again.
    """
    if loaded_fingerprint:  # written with raw.* in one transaction: the tables exist
        stored = _stored(con)
        if registry_fingerprint(landing, stored.rounds) == loaded_fingerprint:
            return stored
    units_path, rounds_path = landing / "units.csv", landing / "rounds.csv"
    _read(con, units_path, "_units", UNITS_COLUMNS)
    _bad_rows(
        con,
        units_path,
        f"""select row_number, case
              when not regexp_full_match(coalesce(raw.strip(unit_code), ''), '{UNIT_CODE_RE.pattern[1:-1]}')
                then 'unit_code ' || coalesce('"' || unit_code || '"', 'is empty')
                     || ' must be 1-32 capital letters, digits or _'
              when count(*) over (partition by raw.strip(unit_code)) > 1
                then 'unit_code ' || raw.strip(unit_code) || ' is listed more than once'
              when raw.clean(unit_name) is null then 'unit_name is empty' end as problem
            from _units qualify problem is not null order by row_number""",
    )
    _read(con, rounds_path, "_rounds", ROUNDS_COLUMNS)
    _bad_rows(
        con,
        rounds_path,
        f"""select row_number, case
              when not regexp_full_match(coalesce(raw.strip(round_id), ''), '{ROUND_ID_RE.pattern[1:-1]}')
                then 'round_id ' || coalesce('"' || round_id || '"', 'is empty')
                     || ' must be 1-40 letters, digits, _ or -'
              when count(*) over (partition by raw.strip(round_id)) > 1
                then 'round_id ' || raw.strip(round_id) || ' is listed more than once'
              when raw.parse_ts(deadline) is null
                then 'deadline "' || coalesce(deadline, '') || '" is not an ISO 8601 timestamp'
              when raw.parse_count(exam_questions) is null then 'exam_questions is not a whole number'
              when raw.parse_count(exam_minutes) is null then 'exam_minutes is not a whole number'
              when not raw.parse_number(exam_full_marks) > 0 then 'exam_full_marks is not a positive number'
              when raw.parse_number(exam_full_marks) > 1e9
                then 'exam_full_marks ' || raw.strip(exam_full_marks)
                     || ' is not a mark scale; give the full marks, e.g. 100'
              when raw.parse_number(pass_mark) is null then 'pass_mark is not a number'
              when raw.parse_number(excellent_mark) is null then 'excellent_mark is not a number' end as problem
            from _rounds qualify problem is not null order by row_number""",
    )
    reg = Registry(
        rounds=[r[0] for r in con.execute("select raw.strip(round_id) from _rounds order by row_number").fetchall()]
    )

    con.execute("create or replace table raw.units as select * exclude (row_number) from _units")
    con.execute("create or replace table raw.rounds as select * exclude (row_number) from _rounds")
    con.execute(
        "create or replace table raw.scope (round_id varchar, unit_code varchar, "
        "cadre_headcount varchar, min_examinees varchar)"
    )
    for round_id in reg.rounds:
        scope_path = landing / round_id / "scope.csv"
        if not scope_path.is_file():
            log.warning("round %s has no scope.csv: no unit is in scope yet", round_id)
            continue
        _read(con, scope_path, "_scope", SCOPE_COLUMNS)
        _bad_rows(
            con,
            scope_path,
            """select row_number, case
                  when raw.strip(unit_code) not in (select raw.strip(unit_code) from _units)
                    then 'unit_code ' || coalesce('"' || unit_code || '"', 'is empty')
                         || ' is not in units.csv'
                  when count(*) over (partition by raw.strip(unit_code)) > 1
                    then 'unit_code ' || raw.strip(unit_code) || ' is listed more than once'
                  when raw.parse_count(cadre_headcount) is null then 'cadre_headcount is not a whole number'
                  when raw.parse_count(min_examinees) is null then 'min_examinees is not a whole number' end
                  as problem
                from _scope qualify problem is not null order by row_number""",
        )
        con.execute(
            "insert into raw.scope select ?, raw.strip(unit_code), cadre_headcount, min_examinees from _scope",
            [round_id],
        )
    for t in ("_units", "_rounds", "_scope"):
        con.execute(f"drop table if exists {t}")
    return reg
