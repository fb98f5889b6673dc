"""Run history, `reformwatch status`, `reformwatch sql` (also during a refresh), docs and column comments."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from landing_builder import Landing, rows, run_pipeline

from reformwatch.config import SAMPLE_LANDING

EXE = Path(sys.executable).parent / "reformwatch"


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, input=stdin, timeout=300)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    wh = tmp_path_factory.mktemp("ops") / "warehouse.duckdb"
    run_pipeline(SAMPLE_LANDING, wh).close()
    return wh


def test_sql_prints_the_count_and_csv(warehouse):
    out = cli("sql", "--warehouse", str(warehouse), "select count(*) as n from marts.exam_unit_round")
    assert out.returncode == 0 and "| 18 |" in out.stdout
    out = cli(
        "sql",
        "--csv",
        "--warehouse",
        str(warehouse),
        stdin="select unit_code from marts.exam_unit_round order by rank_in_round limit 2;",
    )
    assert out.stdout.splitlines() == ["unit_code", "LJBANK", "FDA"]


def test_the_interactive_shell_answers_help_and_tables(warehouse):
    """`reformwatch sql` on a terminal: .help explains, .tables lists every table on one line each (a
    comment's line breaks are written as \\n), a statement may span lines, .quit leaves."""
    import pty
    import select

    parent, child = pty.openpty()
    proc = subprocess.Popen([str(EXE), "sql", "--warehouse", str(warehouse)], stdin=child, stdout=child, stderr=child)
    os.close(child)
    for line in (".help", ".tables", "select count(*) as n", "from marts.exam_unit_round;", ".quit"):
        os.write(parent, (line + "\n").encode())
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([parent], [], [], 1)
        if ready:
            try:
                chunk = os.read(parent, 65536)
            except OSError:  # the shell has exited and closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    assert proc.wait(30) == 0
    text = out.decode(errors="replace").replace("\r\n", "\n")
    assert ".tables   the tables" in text and "Start with:" in text
    listed = [ln for ln in text.splitlines() if ln.startswith("| marts.") or ln.startswith("| dq.")]
    assert any(ln.startswith("| marts.reform_round ") for ln in listed) and all(ln.endswith(" |") for ln in listed)
    assert "| 18 |" in text


def test_sql_is_read_only(warehouse):
    out = cli("sql", "--warehouse", str(warehouse), "delete from marts.exam_round")
    assert out.returncode == 1 and "read-only" in out.stderr.lower()


def test_sql_works_while_a_refresh_holds_the_pipeline(warehouse, tmp_path):
    """Another process holds the refresh lock and the work database open read-write, as a refresh does."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import time, duckdb
        from pathlib import Path
        from reformwatch.config import Settings
        from reformwatch.publish import refresh_lock
        s = Settings(warehouse=Path({str(warehouse)!r}))
        with refresh_lock(s.lock_file, 5):
            con = duckdb.connect(str(s.work_db))
            con.execute("create or replace table raw.busy as select 1")
            print("holding", flush=True)
            time.sleep(60)
    """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        out = cli("sql", "--warehouse", str(warehouse), "select count(*) as n from marts.exam_unit_round")
        assert out.returncode == 0 and "| 18 |" in out.stdout
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_history_and_status_after_success_and_failure(tmp_path):
    land = Landing(tmp_path / "landing").good_round()
    wh = tmp_path / "w.duckdb"
    ok = cli("run", "--landing", str(land.root), "--warehouse", str(wh))
    assert ok.returncode == 0
    status = cli("status", "--warehouse", str(wh))
    assert status.returncode == 0 and "succeeded" in status.stdout and "2024-R1" in status.stdout
    (land.root / "units.csv").write_bytes(b"\x00\xffnot a registry")
    bad = cli("run", "--landing", str(land.root), "--warehouse", str(wh))
    assert bad.returncode == 1
    status = cli("status", "--warehouse", str(wh))
    assert status.returncode == 1 and "FAILED" in status.stdout and "units.csv" in status.stdout
    con = duckdb.connect(str(wh), read_only=True)
    runs = rows(con, "select status, trigger, error, rebuilt from ops.pipeline_runs order by started_at")
    con.close()
    assert [r["status"] for r in runs] == ["succeeded", "failed"]
    assert "RegistryError" in runs[1]["error"] and "units.csv" in runs[1]["error"]
    assert {r["trigger"] for r in runs} == {"cli"}


def test_status_without_any_run_is_non_zero(tmp_path):
    out = cli("status", "--warehouse", str(tmp_path / "none.duckdb"))
    assert out.returncode == 1 and "no run" in out.stdout


def test_every_published_table_and_column_has_a_comment(warehouse):
    con = duckdb.connect(str(warehouse), read_only=True)
    tables = rows(
        con, "select schema_name, table_name, comment from duckdb_tables() where database_name = current_database()"
    )
    cols = rows(
        con,
        "select schema_name, table_name, column_name, comment from duckdb_columns() "
        "where schema_name in ('marts', 'dq', 'ops')",
    )
    con.close()
    assert {t["schema_name"] for t in tables} == {"marts", "dq", "ops"}
    assert [t for t in tables if not t["comment"]] == []
    assert [c for c in cols if not c["comment"]] == []
    comments = {(c["table_name"], c["column_name"]): c["comment"] for c in cols}
    assert "网上可办率" in comments[("reform_unit_round", "online_rate")]


def test_docs_generates_the_dictionary(warehouse):
    out = cli("docs", "--no-serve", "--warehouse", str(warehouse))
    assert out.returncode == 0, out.stderr
    index = Path(out.stdout.strip().splitlines()[-1].split(": ", 1)[1])
    assert index.is_file() and (index.parent / "catalog.json").is_file()


def test_docs_serves(warehouse):
    proc = subprocess.Popen(
        [str(EXE), "docs", "--port", "0", "--warehouse", str(warehouse)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        url = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not url:
            line = proc.stdout.readline()
            if line.startswith("serving on "):
                url = line.split()[2]
        assert url
        import urllib.request

        with urllib.request.urlopen(url + "index.html", timeout=10) as r:
            assert r.status == 200 and b"dbt" in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
