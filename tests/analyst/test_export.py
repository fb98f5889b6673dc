"""`reformwatch export`: the analysts' tables for Excel and BI tools, never an examinee's data."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from landing_builder import Landing, exam_rows, run_pipeline

pytestmark = pytest.mark.slow

EXE = Path(sys.executable).with_name("reformwatch")


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[Path, Landing]:
    root = tmp_path_factory.mktemp("export")
    land = Landing(root / "landing", units={"AAA": "甲厅", "BBB": '=HYPERLINK("http://x","y")', "CCC": "丙委"})
    land.good_round()
    land.exam("AAA", "AAA__v2.csv", rows=exam_rows("AAA", scores=[91, 82, 73, 64, 55]))
    warehouse = root / "w.duckdb"
    run_pipeline(land.root, warehouse).close()
    return warehouse, land


def export(warehouse: Path, out: Path, fmt: str, *more: str) -> list[Path]:
    got = subprocess.run(
        [EXE, "export", "--warehouse", str(warehouse), "--format", fmt, "--out", str(out), *more],
        capture_output=True,
        text=True,
    )
    assert got.returncode == 0, got.stderr
    return [Path(line) for line in got.stdout.splitlines()]


def analyst_rows(warehouse: Path, table: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse.with_name("w.analyst.duckdb")), read_only=True)
    try:
        return con.execute(f"select * from {table} order by all").fetchall()
    finally:
        con.close()


def test_xlsx_has_a_sheet_per_table_with_chinese_headers_and_the_analysts_figures(published, tmp_path):
    from openpyxl import load_workbook

    warehouse, _ = published
    (book,) = export(warehouse, tmp_path, "xlsx", "--round", "2024-R1")
    wb = load_workbook(book)
    con = duckdb.connect(str(warehouse.with_name("w.analyst.duckdb")), read_only=True)
    marts = [r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()]
    con.close()
    assert sorted(wb.sheetnames) == sorted([*marts, "dq.issues"])
    header = [c.value for c in wb["exam_round"][1]]
    assert "平均分 (avg_score)" in header and "轮次 (round_id)" in header
    sheet = [[c.value for c in row] for row in wb["exam_unit_round"].iter_rows(min_row=2)]
    expected = analyst_rows(warehouse, "marts.exam_unit_round")
    assert len(sheet) == len(expected) and [r[1] for r in sheet] == [r[1] for r in expected]
    rows = wb["exam_unit_round"].iter_rows(min_row=2)
    names = [cell for row in rows for cell in row if cell.value == '=HYPERLINK("http://x","y")']
    assert names and all(cell.data_type == "s" for cell in names)  # text, never a formula


def test_csv_and_parquet_hold_the_analysts_tables_and_no_examinee(published, tmp_path):
    warehouse, land = published
    files = export(warehouse, tmp_path / "csv", "csv")
    issues = next(f for f in files if f.name == "dq.issues.csv")
    assert issues.read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM: Excel on Chinese Windows reads UTF-8
    cells = [c for f in files for row in csv.reader(f.open(encoding="utf-8-sig")) for c in row]
    for cell in cells:
        if cell[:1] in ("=", "+", "-", "@"):
            float(cell)  # only a number may start like a formula
    assert '\'=HYPERLINK("http://x","y")' in cells
    examinees = {r["examinee_id"] for u in ("AAA", "BBB", "CCC") for r in exam_rows(u)}
    assert not examinees & set(cells)
    parquet = export(warehouse, tmp_path / "pq", "parquet", "--round", "2024-R1")
    con = duckdb.connect()
    got = con.execute(f"select * from '{next(f for f in parquet if 'exam_round' in f.name)}'").fetchall()
    assert got == analyst_rows(warehouse, "marts.exam_round")


def test_export_says_why_it_cannot(tmp_path):
    got = subprocess.run(
        [EXE, "export", "--warehouse", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
    )
    assert got.returncode == 1 and "no analysts' file" in got.stderr
