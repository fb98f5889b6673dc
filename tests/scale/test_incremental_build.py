"""Incremental dbt builds (per-file exam rows and progress returns) give the same warehouse as a full build
of the same landing zone."""

from __future__ import annotations

import shutil

import duckdb
from landing_builder import AFTER_DEADLINE, Landing, exam_rows, warehouse_snapshot

from reformwatch.config import Settings
from reformwatch.pipeline import parse_as_of, run

TABLES = (
    "marts.exam_unit_round",
    "marts.exam_level_round",
    "marts.exam_round",
    "marts.exam_score_bins",
    "marts.exam_absence_reasons",
    "marts.reform_round",
    "marts.reform_unit_round",
    "marts.unit_round_sources",
    "dq.issues",
)


def refresh(landing, warehouse) -> list[str]:
    log: list[str] = []
    run(Settings(landing=landing, warehouse=warehouse), parse_as_of(AFTER_DEADLINE), say=log.append)
    return log


def assert_same_as_full_build(land: Landing, incremental_wh, tmp_path, name: str) -> None:
    fresh = tmp_path / f"full-{name}" / "w.duckdb"
    log = refresh(land.root, fresh)
    assert any("full refresh" in m for m in log)
    assert warehouse_snapshot(incremental_wh, TABLES) == warehouse_snapshot(fresh, TABLES), name
    shutil.rmtree(fresh.parent)


def test_incremental_builds_equal_full_builds(tmp_path):
    land = Landing(tmp_path / "landing").good_round()
    wh = tmp_path / "w.duckdb"
    assert any("full refresh" in m for m in refresh(land.root, wh))

    # a resubmission with a duplicate, a conflict and a row error
    rows = exam_rows("BBB", scores=[50, 60, 70, 80, 90])
    rows += [dict(rows[0]), {**rows[1], "score": 61}, {**rows[2], "examinee_id": "BBB-x", "score": 120}]
    land.exam("BBB", "BBB__v2.csv", rows=rows)
    land.progress("AAA", "AAA__v2.csv", service_items_online=41)  # a valid correction
    land.progress("CCC", "CCC__v2.csv", service_items_online="many")  # a rejected one: v1 stays in force
    log = refresh(land.root, wh)
    assert any("incremental; registry models kept" in m for m in log) and not any("full refresh" in m for m in log)
    assert_same_as_full_build(land, wh, tmp_path, "resubmission")

    # one kind changes: the other kind's models are kept as they are, and still equal a full build
    land.progress("BBB", "BBB__v2.csv", service_items_online=39)
    log = refresh(land.root, wh)
    assert any("exam models kept: no exam file changed" in m for m in log)
    assert not any("progress models kept" in m for m in log)
    assert_same_as_full_build(land, wh, tmp_path, "progress only")
    land.exam("CCC", "CCC__v2.csv", rows=exam_rows("CCC", scores=[55, 65, 75]))
    log = refresh(land.root, wh)
    assert any("progress models kept: no progress file changed" in m for m in log)
    assert not any("exam models kept" in m for m in log)
    assert_same_as_full_build(land, wh, tmp_path, "exam only")

    # a version removed from the landing zone: its rows leave the incremental table
    (land.root / land.round_id / "exam" / "BBB__v2.csv").unlink()
    (land.root / land.round_id / "exam" / "CCC.csv").unlink()
    (land.root / land.round_id / "exam" / "CCC__v2.csv").unlink()
    (land.root / land.round_id / "progress" / "AAA__v2.csv").unlink()
    refresh(land.root, wh)
    assert_same_as_full_build(land, wh, tmp_path, "removal")
    work = duckdb.connect(str(Settings(landing=land.root, warehouse=wh).work_db), read_only=True)
    try:
        kept = work.execute("select distinct path from intermediate.int_exam__file_exceptions order by 1").fetchall()
        returns = work.execute("select path from intermediate.int_progress__returns order by 1").fetchall()
    finally:
        work.close()
    assert kept == [(f"{land.round_id}/exam/AAA.csv",), (f"{land.round_id}/exam/BBB.csv",)]
    assert (f"{land.round_id}/progress/AAA__v2.csv",) not in returns
    assert (f"{land.round_id}/progress/CCC__v2.csv",) in returns

    # a registry change (full marks 100 -> 60 makes scores out of range) forces a full refresh
    rounds = land.root / "rounds.csv"
    rounds.write_text(rounds.read_text().replace(",45,100,30,", ",45,60,30,"), encoding="utf-8")
    assert any("full refresh" in m for m in refresh(land.root, wh))
    assert_same_as_full_build(land, wh, tmp_path, "registry")
