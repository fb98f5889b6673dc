"""Personal data stays with its unit: no examinee id or individual score in the marts or the analysts' copy."""

from __future__ import annotations

import csv

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
    analyst = all_text(settings.analyst_warehouse)
    assert not any(i in analyst for i in ids) and "105" not in analyst
    con = duckdb.connect(str(settings.analyst_warehouse), read_only=True)
    assert con.execute("select count(*) from dq.issues where check_name = 'score_out_of_range'").fetchone()[0] == 1
    schemas = {r[0] for r in con.execute("select schema_name from duckdb_tables()").fetchall()}
    con.close()
    assert schemas == {"marts", "dq"}

    unit_file = list(csv.DictReader((tmp_path / "reports" / "2024-R1" / "units" / "AAA.csv").open(encoding="utf-8")))
    assert {r["examinee_id"] for r in unit_file} == {f"AAA00{i}" for i in range(1, 5)}
