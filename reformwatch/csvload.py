"""Hand decoded CSV text to DuckDB's CSV reader (DuckDB parses; Python only moves bytes)."""

from __future__ import annotations

import os
import tempfile

import duckdb


def sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def insert_columns(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, list]) -> None:
    """Insert Python column lists in one statement (DuckDB unnests them; no per-row round trips)."""
    names = list(columns)
    select = ", ".join(f"unnest(${i + 1}) as {n}" for i, n in enumerate(names))
    con.execute(f"insert into {table} ({', '.join(names)}) select {select}", [columns[n] for n in names])


def read_csv_text(con: duckdb.DuckDBPyConnection, text: str, table: str, *, tmp_dir: str | None = None) -> list[str]:
    """Parse CSV `text` (header first) into temp table `table` (all VARCHAR, plus row_number).

    Columns are renamed to their trimmed, lower-case header names. Raises duckdb.Error when the
    text is not CSV DuckDB can read. Returns the column names.
    """
    fd, path = tempfile.mkstemp(suffix=".csv", dir=tmp_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        con.execute(
            f"""create or replace temp table {table} as
            select row_number() over () as row_number, *
            from read_csv({sql_str(path)}, header = true, all_varchar = true, delim = ',',
                          quote = '"', escape = '"', null_padding = true, parallel = false,
                          strict_mode = false, skip = 0, comment = '')"""
        )
    finally:
        os.unlink(path)
    cols = [r[0] for r in con.execute(f"describe {table}").fetchall()][1:]
    renames = []
    seen: set[str] = set()
    for c in cols:
        new = c.strip().lower()
        if new != c and new not in seen and new not in cols:
            renames.append((c, new))
        seen.add(new)
    for old, new in renames:
        con.execute(f'alter table {table} rename column "{old}" to "{new}"')
    return [dict(renames).get(c, c) for c in cols]
