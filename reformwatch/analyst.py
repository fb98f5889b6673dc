"""What analysts and operators reach for: read-only SQL, run status, the data dictionary."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import TextIO

import duckdb

from . import ops
from .safe_text import terminal


def connect_readonly(warehouse: Path) -> duckdb.DuckDBPyConnection:
    if not warehouse.is_file():
        raise FileNotFoundError(f"no warehouse at {warehouse}; run `reformwatch run` first")
    return duckdb.connect(str(warehouse), read_only=True)


def print_result(cur: duckdb.DuckDBPyConnection, out: TextIO, as_csv: bool) -> None:
    """A query's result as a table (values as text: control characters shown escaped), or as CSV (the
    values as they are, unless the CSV goes to a terminal)."""
    if cur.description is None:
        return
    cols = [terminal(d[0]) for d in cur.description]
    rows = cur.fetchall()
    if as_csv:
        if out.isatty():
            rows = [[terminal(v) if isinstance(v, str) else v for v in r] for r in rows]
        w = csv.writer(out, lineterminator="\n")
        w.writerow(cols)
        w.writerows(rows)
        return
    text = [[("NULL" if v is None else terminal(str(v))) for v in r] for r in rows]
    widths = [max([len(c)] + [_width(r[i]) for r in text]) for i, c in enumerate(cols)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out.write(line + "\n")
    out.write("| " + " | ".join(_pad(c, w) for c, w in zip(cols, widths)) + " |\n")
    out.write(line + "\n")
    for r in text:
        out.write("| " + " | ".join(_pad(v, w) for v, w in zip(r, widths)) + " |\n")
    out.write(line + "\n")
    out.write(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")


def _width(s: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)


def _pad(s: str, width: int) -> str:
    return s + " " * (width - _width(s))


def run_sql(warehouse: Path, query: str, out: TextIO = sys.stdout, as_csv: bool = False) -> None:
    con = connect_readonly(warehouse)
    try:
        print_result(con.execute(query), out, as_csv)
    finally:
        con.close()


SHELL_HELP = """SQL statements end with ';' and may span lines. The warehouse is read-only.
  .tables   the tables, with what each holds
  .help     this text
  .quit     leave (also .exit, \\q or Ctrl-D)
Start with: select * from marts.reform_round;  select * from dq.issues limit 20;"""


def shell(warehouse: Path, as_csv: bool = False) -> int:
    """A small interactive read-only SQL shell (statements end with ';', .quit or Ctrl-D leaves)."""
    import readline  # noqa: F401  (line editing and history for input())

    con = connect_readonly(warehouse)
    print(f"reformwatch sql: {warehouse} (read-only). Help: .help  Leave: .quit or Ctrl-D")
    buf: list[str] = []
    try:
        while True:
            try:
                line = input("sql> " if not buf else "...> ")
            except EOFError:
                print()
                return 0
            if not buf and line.strip() in (".quit", ".exit", "\\q"):
                return 0
            if not buf and line.strip() == ".help":
                print(SHELL_HELP)
                continue
            if not buf and line.strip() == ".tables":
                line = "select schema_name || '.' || table_name as table_name, comment from duckdb_tables() order by 1;"
            buf.append(line)
            if line.rstrip().endswith(";"):
                try:
                    print_result(con.execute("\n".join(buf)), sys.stdout, as_csv)
                except duckdb.Error as e:
                    print(f"error: {e}", file=sys.stderr)
                buf = []
    finally:
        con.close()


def status(warehouse: Path, work_dir: Path, limit: int = 10, out: TextIO = sys.stdout) -> int:
    """Print the latest runs and the rounds; return 1 when the last run failed (or none ran)."""
    runs = ops.read_runs(work_dir)
    if not runs:
        out.write(f"no run recorded for {warehouse} yet (reformwatch run)\n")
        return 1
    out.write(f"latest runs of {warehouse}\n")
    con = duckdb.connect()
    try:
        ops.write_runs_table(con, "ops", runs[-limit:])
        print_result(
            con.execute(
                """select strftime(timezone('Asia/Shanghai', started_at), '%Y-%m-%d %H:%M:%S') as started_shanghai,
                          trigger, status, rebuilt,
                          files_seen as files, files_loaded as loaded, files_rejected as rejected,
                          rows_loaded as rows, issues_error as errors, issues_warning as warnings,
                          round(duration_s, 1) as seconds
                   from ops.pipeline_runs order by started_at desc"""
            ),
            out,
            False,
        )
    finally:
        con.close()
    if warehouse.is_file():
        wcon = duckdb.connect(str(warehouse), read_only=True)
        try:
            has_marts = wcon.execute(
                "select count(*) from duckdb_tables() where schema_name = 'marts' and table_name = 'reform_round'"
            ).fetchone()[0]
            if has_marts:
                out.write("\nrounds\n")
                print_result(
                    wcon.execute(
                        """select r.round_id, strftime(timezone('Asia/Shanghai', r.deadline), '%Y-%m-%d %H:%M')
                                  as deadline_shanghai,
                                  r.units_in_scope as in_scope, r.units_reported as reported, r.units_late as late,
                                  r.units_missing as missing, e.examinees
                           from marts.reform_round r left join marts.exam_round e using (round_id)
                           order by r.deadline"""
                    ),
                    out,
                    False,
                )
        finally:
            wcon.close()
    last_error = next((r for r in reversed(runs) if r.get("status") == "failed"), None)
    if last_error:
        out.write(f"\nlast error (started {last_error['started_at'][:19]} UTC): {terminal(str(last_error['error']))}\n")
    last = runs[-1]
    if last.get("status") == "failed":
        out.write("\nthe last run FAILED\n")
        return 1
    return 0
