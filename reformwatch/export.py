"""`reformwatch export`: the analysts' file (marts and dq.issues, no individual's data) for Excel and BI tools.

It reads only the analysts' copy of the warehouse (publish.REDACTED: no examinee id, score or submitted
value of an individual), so an export never holds an examinee's score. Formats:
- xlsx: one workbook, one sheet per table, Chinese column headers from the data dictionary (the first
  Chinese words of each column's description, then the column's name), times in Shanghai time;
- csv: one file per table, UTF-8 with a byte order mark (Excel on Chinese Windows reads it), the
  columns' names as headers;
- parquet: one file per table, DuckDB's types kept.
Text that a spreadsheet would run as a formula is written as text: a string cell in xlsx, an apostrophe
first in csv (OWASP's CSV injection guidance); numbers stay numbers.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from .csvload import sql_str
from .safe_text import spreadsheet

FORMATS = ("xlsx", "csv", "parquet")
SHANGHAI = ZoneInfo("Asia/Shanghai")
_CHINESE = re.compile(r"[\u3400-\u9fff\uf900-\ufaff][\u3400-\u9fff\uf900-\ufaff、/]*")


class ExportError(Exception):
    """The export cannot be written (no analysts' file, an unknown round); the message says why."""


def exported_tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """The analysts' tables: every mart, and dq.issues."""
    return con.execute(
        """select schema_name, table_name from duckdb_tables()
           where schema_name = 'marts' or (schema_name = 'dq' and table_name = 'issues')
           order by schema_name = 'dq', table_name"""
    ).fetchall()


def chinese_header(column: str, comment: str | None) -> str:
    """A column's header: the first Chinese words of its description (the data dictionary) with its
    name, e.g. 平均分 (avg_score); its name alone when the description has no Chinese."""
    found = _CHINESE.search(comment or "")
    return f"{found.group(0)} ({column})" if found else column


def export(analyst_file: Path, out_dir: Path, fmt: str, round_id: str | None = None) -> list[Path]:
    """Write the analysts' tables (of one round, or all) into out_dir; return the files written."""
    if fmt not in FORMATS:
        raise ExportError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if not analyst_file.is_file():
        raise ExportError(f"no analysts' file at {analyst_file}; run `reformwatch run` first")
    con = duckdb.connect(str(analyst_file), read_only=True)
    try:
        rounds = [r[0] for r in con.execute("select round_id from marts.reform_round order by 1").fetchall()]
        if round_id is not None and round_id not in rounds:
            raise ExportError(f"round {round_id} is not in the warehouse (rounds: {', '.join(rounds) or 'none'})")
        out_dir.mkdir(parents=True, exist_ok=True)
        tables = exported_tables(con)
        if fmt == "xlsx":
            return [_xlsx(con, tables, out_dir / f"reformwatch-{round_id or 'all-rounds'}.xlsx", round_id)]
        written = []
        for schema, table in tables:
            path = out_dir / f"{schema}.{table}{'-' + round_id if round_id else ''}.{fmt}"
            query, params = _rows_query(schema, table, round_id)
            if fmt == "parquet":
                con.execute(f"copy ({query}) to {sql_str(str(path))} (format parquet)", params)
            else:
                cur = con.execute(query, params)
                with path.open("w", encoding="utf-8-sig", newline="") as f:
                    w = csv.writer(f)
                    w.writerow([d[0] for d in cur.description])
                    while batch := cur.fetchmany(10_000):
                        w.writerows([[spreadsheet(v) for v in row] for row in batch])
            written.append(path)
        return written
    finally:
        con.close()


def _rows_query(schema: str, table: str, round_id: str | None) -> tuple[str, list]:
    """The table's rows (of the round, when one is given), in a stable order."""
    where = "where round_id = ?" if round_id else ""
    return f"select * from {schema}.{table} {where} order by all", ([round_id] if round_id else [])


def _xlsx(con: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]], path: Path, round_id: str | None) -> Path:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    for schema, table in tables:
        ws = wb.create_sheet(title=table if schema == "marts" else f"{schema}.{table}")
        comments = dict(
            con.execute(
                "select column_name, comment from duckdb_columns() where schema_name = ? and table_name = ?",
                [schema, table],
            ).fetchall()
        )
        query, params = _rows_query(schema, table, round_id)
        cur = con.execute(query, params)
        ws.append([chinese_header(d[0], comments.get(d[0])) for d in cur.description])
        while batch := cur.fetchmany(10_000):
            for row in batch:
                ws.append([_xlsx_cell(WriteOnlyCell, ws, v) for v in row])
    tmp = path.with_name(f".{path.name}.part")
    wb.save(tmp)
    tmp.replace(path)
    return path


def _xlsx_cell(cell_type: type, ws, value: object) -> object:
    """A cell: text as a string cell (never a formula, whatever it starts with); lists as text; numbers,
    dates and booleans as they are. `cell_type`: openpyxl's WriteOnlyCell (imported once, by _xlsx)."""
    if isinstance(value, list | dict):
        value = str(value)
    if isinstance(value, str):
        cell = cell_type(ws, value=value)
        cell.data_type = "s"
        return cell
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(SHANGHAI).replace(tzinfo=None)  # Excel has no time zones: Shanghai time
    return value
