"""Publishing in two steps (stage while the checks run, complete after them), on a small work database."""

from __future__ import annotations

from pathlib import Path

import duckdb

from reformwatch import publish


def work_database(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create schema dq; create schema raw")
    con.execute("create table marts.exam_round as select 'R1' as round_id, 581 as examinees")
    con.execute("comment on table marts.exam_round is 'one row per round'")
    con.execute("create table raw.exam_rows as select 'E001' as examinee_id")  # never published
    con.execute(
        "create table dq.checks as select 'score_out_of_range' as check_name, 'score outside 0..100' as description"
    )
    con.execute(
        "create table dq.issues as select 'R1' as round_id, 'AIC' as unit_code, 'exam' as source, "
        "'R1/exam/AIC.csv' as file_path, 7 as row_number, "
        "'score_out_of_range' as check_name, '105' as value, 'examinee E001 scored 105' as detail"
    )
    con.execute("create table dq.expectation_results as select 'exam_rows' as suite, ['E001'] as unexpected_examples")
    con.close()


def tables(path: Path) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        names = con.execute("select schema_name || '.' || table_name from duckdb_tables() order by all").fetchall()
        return {n: con.execute(f"select * from {n}").fetchall() for (n,) in names}
    finally:
        con.close()


def test_stage_then_complete_publishes_full_and_redacted_copies(tmp_path):
    work, warehouse, analyst = tmp_path / "work.duckdb", tmp_path / "w.duckdb", tmp_path / "analyst.duckdb"
    work_database(work)

    staged = publish.stage(work, warehouse, analyst)
    assert not warehouse.exists() and not analyst.exists()  # nothing is in place before complete()
    assert set(tables(staged.tmp)) == {"dq.checks", "marts.exam_round"}  # the checks' tables come later

    publish.complete(staged, work, runs=[{"run_id": "r1", "status": "success"}])
    full, redacted = tables(warehouse), tables(analyst)
    assert full["dq.issues"][0][-1] == "examinee E001 scored 105"
    assert full["dq.expectation_results"] == [("exam_rows", ["E001"])]
    assert [r[0] for r in full["ops.pipeline_runs"]] == ["r1"]
    assert redacted["dq.issues"][0][-1] == "R1/exam/AIC.csv, row 7: score outside 0..100"
    assert full["dq.issues"][0][-2] == "105" and redacted["dq.issues"][0][-2] is None  # the score at fault
    assert redacted["dq.expectation_results"] == [("exam_rows",)]
    assert "ops.pipeline_runs" not in redacted and "raw.exam_rows" not in full
    assert full["marts.exam_round"] == redacted["marts.exam_round"] == [("R1", 581)]
    con = duckdb.connect(str(analyst), read_only=True)
    assert con.execute("select comment from duckdb_tables() where table_name = 'exam_round'").fetchone()[0] == (
        "one row per round"
    )
    con.close()
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["analyst.duckdb", "w.duckdb", "work.duckdb"]  # no staged file, no WAL beside any


def test_discarded_stage_leaves_nothing(tmp_path):
    work, warehouse = tmp_path / "work.duckdb", tmp_path / "w.duckdb"
    work_database(work)
    publish.stage(work, warehouse).discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work.duckdb"]


def test_pipeline_connections_draw_no_progress_bar(tmp_path):
    """DuckDB draws a progress bar on standard output for a query over 2 s, even into a log or a pipe;
    the pipeline's connections turn it off so the run's output stays line by line."""
    from reformwatch.config import connect_quietly, connect_work_db

    for con in (connect_quietly(tmp_path / "a.duckdb"), connect_work_db(tmp_path / "b.duckdb", read_only=False)):
        try:
            assert con.execute("select current_setting('enable_progress_bar')").fetchone()[0] is False
        finally:
            con.close()
