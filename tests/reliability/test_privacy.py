"""Personal data stays with its unit: no examinee id or individual score in the marts or the analysts' copy."""

from __future__ import annotations

import csv
import re

import duckdb
from landing_builder import Landing, exam_rows, run_pipeline

from reformwatch.config import Settings


def all_text(path, schemas=("marts", "dq", "ops")) -> str:
    con = duckdb.connect(str(path), read_only=True)
    try:
        chunks = []
        for schema, table in con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database()"
        ).fetchall():
            if schema in schemas:
                chunks.append(str(con.execute(f"select * from {schema}.{table}").fetchall()))
        return "\n".join(chunks)
    finally:
        con.close()


def holds_score(path, score: int) -> list[tuple[str, str, object]]:
    """Cells of the warehouse that hold ``score``: the number itself, or a text naming it.

    Checked cell by cell, so a digest, a timestamp's microseconds or a larger number that
    happens to contain the digits is not taken for the score.
    """
    token = re.compile(rf"(?<![0-9A-Za-z.]){score}(?![0-9A-Za-z]|\.[0-9])")
    con = duckdb.connect(str(path), read_only=True)
    try:
        hits = []
        for schema, table in con.execute("select schema_name, table_name from duckdb_tables()").fetchall():
            cur = con.execute(f"select * from {schema}.{table}")
            cols = [d[0] for d in cur.description]
            for row in cur.fetchall():
                for col, value in zip(cols, row):
                    if isinstance(value, bool):
                        continue
                    if (isinstance(value, (int, float)) and value == score) or (
                        isinstance(value, str) and token.search(value)
                    ):
                        hits.append((f"{schema}.{table}", col, value))
        return hits
    finally:
        con.close()


def test_holds_score_ignores_digits_inside_other_values(tmp_path):
    path = tmp_path / "t.duckdb"
    con = duckdb.connect(str(path))
    con.execute("create table t (a varchar, b double, c bigint)")
    con.execute(
        "insert into t values ('fda105e1', 105.5, 1105), ('x 2105 and 1.105', 10.5, 10), "
        "('score 105 out of range', 1, 1), ('ok', 105, 2), ('ok', 0, 105)"
    )
    con.close()
    assert [(c, v) for _, c, v in holds_score(path, 105)] == [("a", "score 105 out of range"), ("b", 105.0), ("c", 105)]


def test_ids_only_in_raw_and_unit_files(tmp_path):
    land = Landing(tmp_path / "landing").good_round(skip=("AAA",))
    land.progress("AAA")
    rows = exam_rows("AAA", scores=[95, 85, 70, 100, 105])  # one row rejected: its issue names the examinee
    land.exam("AAA", rows=rows)
    wh = tmp_path / "w.duckdb"
    run_pipeline(land.root, wh).close()
    settings = Settings(landing=land.root, warehouse=wh)
    ids = {r["examinee_id"] for u in land.units for r in exam_rows(u)}

    marts = all_text(wh, ("marts",))
    assert not any(i in marts for i in ids)
    assert "AAA005" in all_text(wh, ("dq",))  # the engineers' warehouse: the contract's detail names the row
    # ... and the score, in the detail and as the value at fault
    assert [(t, c) for t, c, _ in holds_score(wh, 105)] == [("dq.issues", "detail"), ("dq.issues", "value")]
    analyst = all_text(settings.analyst_warehouse)
    assert not any(i in analyst for i in ids)
    assert holds_score(settings.analyst_warehouse, 105) == []
    con = duckdb.connect(str(settings.analyst_warehouse), read_only=True)
    assert con.execute("select count(*) from dq.issues where check_name = 'score_out_of_range'").fetchone()[0] == 1
    schemas = {r[0] for r in con.execute("select schema_name from duckdb_tables()").fetchall()}
    con.close()
    assert schemas == {"marts", "dq"}

    unit_file = list(
        csv.DictReader((tmp_path / "reports" / "2024-R1" / "units" / "AAA.csv").open(encoding="utf-8-sig"))
    )
    assert {r["考生编号"] for r in unit_file} == {f"AAA00{i}" for i in range(1, 5)}
