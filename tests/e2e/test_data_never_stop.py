"""Data never stop a refresh: hostile submissions, through `reformwatch run` as users run it.

Each hostile file lands as a new version of one unit beside the bundled round. The run exits 0 and
publishes; each file has its issue with a detail naming the problem; the older version stays in force;
every figure is the bundled round's.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from landing_builder import rows

from reformwatch.config import SAMPLE_LANDING
from reformwatch.contract import EXAM_COLUMNS, PROGRESS_COLUMNS

EXE = Path(sys.executable).parent / "reformwatch"
ROUND = "2018-R1"
MARTS = ("reform_unit_round", "reform_round", "exam_unit_round", "exam_level_round", "exam_round")
# the columns that say which file a unit's figures come from: a rejected version never changes them
LINEAGE = {"version", "submitted_at", "is_late", "source_file"}


def reformwatch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=600, env=dict(os.environ))


def sample_lines(kind: str, unit: str) -> list[str]:
    return (SAMPLE_LANDING / ROUND / kind / f"{unit}.csv").read_text(encoding="utf-8").splitlines()


def with_cell(line: str, kind: str, column: str, value: str) -> str:
    cells = line.split(",")
    cells[(PROGRESS_COLUMNS if kind == "progress" else EXAM_COLUMNS).index(column)] = value
    return ",".join(cells)


def xlsx(rows_: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    for r in rows_:
        wb.active.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def progress_text(unit: str, column: str, value: str) -> bytes:
    head, row = sample_lines("progress", unit)
    return f"{head}\n{with_cell(row, 'progress', column, value)}\n".encode()


def hostile_files() -> list[tuple[str, str, str, bytes, str, str]]:
    """(case, kind, file name, bytes, check_name, a words of its detail)."""
    p = {u: sample_lines("progress", u) for u in ("POLICE", "HRSS", "AIC", "JUSTICE", "NDRC", "ENV", "SAFETY")}
    e = {u: sample_lines("exam", u) for u in ("LAND", "COMMERCE", "RCC", "TOURISM", "HOUSING", "FDA", "COURT", "ENV")}
    cases = [
        (
            "a row with a cell more",
            "progress",
            "POLICE__v2.csv",
            f"{p['POLICE'][0]}\n{p['POLICE'][1]},extra\n",
            "unreadable_file",
            "line 2 has 20 cells, the header row 19",
        ),
        (
            "a row with a cell less",
            "exam",
            "LAND__v2.csv",
            "\n".join([*e["LAND"][:3], e["LAND"][3].rsplit(",", 1)[0], *e["LAND"][4:]]) + "\n",
            "unreadable_file",
            "line 4 has 7 cells, the header row 8",
        ),
        (
            "an unclosed quote",
            "exam",
            "COMMERCE__v2.csv",
            "\n".join(
                [
                    *e["COMMERCE"][:2],
                    with_cell(e["COMMERCE"][2], "exam", "discipline_note", '"no end'),
                    *e["COMMERCE"][3:],
                ]
            )
            + "\n",
            "unreadable_file",
            "a quoted cell is never closed",
        ),
        (
            "a multi-megabyte cell",
            "exam",
            "RCC__v2.csv",
            "\n".join(
                [*e["RCC"][:2], with_cell(e["RCC"][2], "exam", "discipline_note", "x" * 3_000_000), *e["RCC"][3:]]
            )
            + "\n",
            "unreadable_file",
            "a cell has more than the 32768 characters allowed",
        ),
        (
            "NUL bytes",
            "progress",
            "HRSS__v2.csv",
            progress_text("HRSS", "inspections", "4\x00\x00"),
            "unreadable_file",
            "binary data (NUL bytes)",
        ),
        (
            "random bytes",
            "exam",
            "TOURISM__v2.csv",
            random.Random(37).randbytes(4096),
            "unreadable_file",
            "save it again",
        ),
        ("an empty file", "progress", "AIC__v2.csv", b"", "unreadable_file", "the file is empty"),
        (
            "a header only",
            "progress",
            "JUSTICE__v2.csv",
            f"{p['JUSTICE'][0]}\n",
            "progress_row_count",
            "JUSTICE__v2.csv",
        ),
        (
            "UTF-16",
            "progress",
            "NDRC__v2.csv",
            "\n".join(p["NDRC"]).encode("utf-16"),
            "unreadable_file",
            "save it again",
        ),
        (
            "semicolons",
            "exam",
            "HOUSING__v2.csv",
            "\n".join(line.replace(",", ";") for line in e["HOUSING"]) + "\n",
            "unreadable_file",
            "lacks the column(s)",
        ),
        (
            "a column named twice",
            "exam",
            "FDA__v2.csv",
            "\n".join([e["FDA"][0] + ",score", *(line + ",0" for line in e["FDA"][1:])]) + "\n",
            "unreadable_file",
            "names the column(s) score more than once",
        ),
        (
            "an .xlsx that is no workbook",
            "progress",
            "ENV__v2.xlsx",
            "\n".join(p["ENV"]).encode(),
            "unreadable_file",
            "the workbook cannot be opened",
        ),
        (
            "an .xlsx with a title row",
            "exam",
            "COURT__v2.xlsx",
            xlsx([["2018年考试成绩"], *(line.split(",") for line in e["COURT"])]),
            "unreadable_file",
            "lacks the column(s)",
        ),
        (
            "a number like 1e400",
            "progress",
            "SAFETY__v2.csv",
            progress_text("SAFETY", "service_items_total", "1e400"),
            "invalid_value",
            "service_items_total",
        ),
        (
            "text starting with =",
            "progress",
            "TRANSPORT__v2.csv",
            progress_text("TRANSPORT", "training_sessions", "=1+2"),
            "invalid_value",
            "training_sessions",
        ),
        (
            "text after a closing quote",
            "exam",
            "ENV__v2.csv",
            "\n".join([*e["ENV"][:2], with_cell(e["ENV"][2], "exam", "discipline_note", '"a"b'), *e["ENV"][3:]]) + "\n",
            "unreadable_file",
            "goes on after its closing",
        ),
    ]
    return [(c, k, n, b if isinstance(b, bytes) else b.encode(), check, words) for c, k, n, b, check, words in cases]


def published(warehouse: Path, lineage: bool = True) -> dict[str, list]:
    """The contract's marts, every row (without the lineage columns unless `lineage`)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        out = {}
        for t in MARTS:
            cols = [
                c
                for (c,) in con.execute(
                    "select column_name from duckdb_columns() where schema_name = 'marts' and table_name = ? "
                    "order by column_index",
                    [t],
                ).fetchall()
                if lineage or c not in LINEAGE
            ]
            out[t] = con.execute(f"select {', '.join(cols)} from marts.{t} order by all").fetchall()
        return out
    finally:
        con.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled round's warehouse, published by `reformwatch run`."""
    warehouse = tmp_path_factory.mktemp("reference") / "warehouse.duckdb"
    out = reformwatch("run", "--landing", str(SAMPLE_LANDING), "--warehouse", str(warehouse))
    assert out.returncode == 0, out.stderr
    return warehouse


def test_hostile_submissions_publish_with_issues(tmp_path, reference):
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    cases = hostile_files()
    assert len(cases) >= 15
    for _case, kind, name, data, _check, _words in cases:
        (landing / ROUND / kind / name).write_bytes(data)
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    out = reformwatch("run", "--landing", str(landing), "--warehouse", str(warehouse))
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and warehouse.is_file()

    con = duckdb.connect(str(warehouse), read_only=True)
    found = {(i["file_path"], i["check_name"]): i for i in rows(con, "select * from dq.issues")}
    sources = {
        (r["unit_code"], r["kind"]): r["source_file"]
        for r in rows(
            con,
            """select unit_code, 'progress' as kind, source_file from marts.reform_unit_round
           union all select unit_code, 'exam', source_file from marts.exam_unit_round""",
        )
    }
    con.close()
    for case, kind, name, _data, check, words in cases:
        path = f"{ROUND}/{kind}/{name}"
        assert (path, check) in found, f"{case}: no {check} issue for {path}"
        issue = found[(path, check)]
        assert words in issue["detail"] and issue["severity"] == "error", f"{case}: {issue['detail'][:300]}"
        unit = name.split("__")[0]
        in_force = sources[(unit, kind)]
        assert "__v" not in in_force or in_force.endswith("HOUSING__v2.csv"), f"{case}: {in_force} in force"

    got, expected = published(warehouse), published(reference)
    for table in MARTS:
        assert got[table] == expected[table], table


@pytest.mark.parametrize("column", ["unit_code", "examinee_id", "status"])
def test_unicode_whitespace_around_values_is_ignored(tmp_path, reference, column):
    """Tab, NBSP, the ideographic space (U+3000) and other Unicode spaces around a value are ignored:
    the new version is accepted as it is and the figures are the bundled round's."""
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    sheet = landing / ROUND / "exam" / "POLICE.csv"
    head, *body = sheet.read_text(encoding="utf-8").splitlines()
    i = EXAM_COLUMNS.index(column)
    spaced = []
    for n, line in enumerate(body):
        cells = line.split(",")
        cells[i] = ["\t", "\u00a0", "\u3000", "\u2003"][n % 4] + cells[i] + ["\u3000", " \t", "\u00a0", ""][n % 4]
        spaced.append(",".join(cells))
    (sheet.parent / "POLICE__v2.csv").write_text("\n".join([head, *spaced]) + "\n", encoding="utf-8")
    warehouse = tmp_path / "warehouse.duckdb"
    assert reformwatch("run", "--landing", str(landing), "--warehouse", str(warehouse)).returncode == 0
    con = duckdb.connect(str(warehouse), read_only=True)
    assert rows(con, "select check_name from dq.issues where file_path like '%POLICE__v2%'") == []
    con.close()
    assert published(warehouse, lineage=False) == published(reference, lineage=False)
