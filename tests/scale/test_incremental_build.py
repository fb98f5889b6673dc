"""Incremental dbt builds (the per-file models process new files only) give the same warehouse as a full
build of the same landing zone."""

from __future__ import annotations

import shutil

import duckdb
from landing_builder import AFTER_DEADLINE, Landing, exam_rows, warehouse_snapshot

from reformwatch.config import Settings
from reformwatch.pipeline import parse_as_of, run
from reformwatch.publish import PUBLISHED_ORDER
from reformwatch.synth import synth

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


def refresh(landing, warehouse, as_of: str = AFTER_DEADLINE) -> list[str]:
    log: list[str] = []
    run(Settings(landing=landing, warehouse=warehouse), parse_as_of(as_of), say=log.append)
    return log


def assert_same_as_full_build(landing, incremental_wh, tmp_path, name: str, as_of: str = AFTER_DEADLINE) -> None:
    fresh = tmp_path / f"full-{name}" / "w.duckdb"
    log = refresh(landing, fresh, as_of)
    assert any("full refresh" in m for m in log)
    assert warehouse_snapshot(incremental_wh, TABLES) == warehouse_snapshot(fresh, TABLES), name
    shutil.rmtree(fresh.parent)


def files_by_build(work_db, table: str) -> set[frozenset[str]]:
    """The paths of the files whose rows a per-file model holds, grouped by the dbt build that wrote them."""
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        rows = con.execute(
            f"""select list(distinct f.path) from {table} t join intermediate.int_exam__sheets f using (file_id)
                group by t.dbt_invocation_id"""
        ).fetchall()
    finally:
        con.close()
    return {frozenset(r[0]) for r in rows}


def test_incremental_builds_equal_full_builds(tmp_path):
    land = Landing(tmp_path / "landing").good_round()
    wh = tmp_path / "w.duckdb"
    work_db = Settings(landing=land.root, warehouse=wh).work_db
    assert any("full refresh" in m for m in refresh(land.root, wh))

    # a resubmission with a duplicate, a conflict and a row error: the per-file models read that sheet only
    rows = exam_rows("BBB", scores=[50, 60, 70, 80, 90])
    rows += [dict(rows[0]), {**rows[1], "score": 61}, {**rows[2], "examinee_id": "BBB-x", "score": 120}]
    land.exam("BBB", "BBB__v2.csv", rows=rows)
    land.progress("AAA", "AAA__v2.csv", service_items_online=41)  # a valid correction
    land.progress("CCC", "CCC__v2.csv", service_items_online="many")  # a rejected one: v1 stays in force
    log = refresh(land.root, wh)
    assert any("incremental" in m for m in log) and not any("full refresh" in m for m in log)
    first = frozenset(f"{land.round_id}/exam/{u}.csv" for u in ("AAA", "BBB", "CCC"))
    resubmitted = frozenset([f"{land.round_id}/exam/BBB__v2.csv"])
    assert files_by_build(work_db, "intermediate.int_exam__file_stats") == {first, resubmitted}
    assert files_by_build(work_db, "intermediate.int_exam__file_exceptions") == {resubmitted}  # the first: none
    assert_same_as_full_build(land.root, wh, tmp_path, "resubmission")

    land.progress("BBB", "BBB__v2.csv", service_items_online=39)
    refresh(land.root, wh)
    assert_same_as_full_build(land.root, wh, tmp_path, "progress only")
    land.exam("CCC", "CCC__v2.csv", rows=exam_rows("CCC", scores=[55, 65, 75]))
    refresh(land.root, wh)
    assert_same_as_full_build(land.root, wh, tmp_path, "exam only")

    # a version removed from the landing zone: its rows leave the incremental table
    (land.root / land.round_id / "exam" / "BBB__v2.csv").unlink()
    (land.root / land.round_id / "exam" / "CCC.csv").unlink()
    (land.root / land.round_id / "exam" / "CCC__v2.csv").unlink()
    (land.root / land.round_id / "progress" / "AAA__v2.csv").unlink()
    refresh(land.root, wh)
    assert_same_as_full_build(land.root, wh, tmp_path, "removal")
    work = duckdb.connect(str(work_db), read_only=True)
    try:
        kept = work.execute(
            "select distinct path from intermediate.int_exam__file_stats "
            "join intermediate.int_exam__sheets using (file_id) order by 1"
        ).fetchall()
        returns = work.execute("select path from intermediate.int_progress__returns order by 1").fetchall()
    finally:
        work.close()
    assert kept == [(f"{land.round_id}/exam/AAA.csv",), (f"{land.round_id}/exam/BBB.csv",)]
    assert (f"{land.round_id}/progress/AAA__v2.csv",) not in returns
    assert (f"{land.round_id}/progress/CCC__v2.csv",) in returns

    # other marks (full marks 100 -> 60 makes scores out of range): the round's sheets are processed again
    rounds = land.root / "rounds.csv"
    rounds.write_text(rounds.read_text().replace(",45,100,30,", ",45,60,30,"), encoding="utf-8")
    log = refresh(land.root, wh)
    assert not any("full refresh" in m for m in log)
    assert files_by_build(work_db, "intermediate.int_exam__file_stats") == {
        frozenset(f"{land.round_id}/exam/{u}.csv" for u in ("AAA", "BBB"))
    }
    assert_same_as_full_build(land.root, wh, tmp_path, "marks")


def test_two_rounds_resubmissions_and_a_passing_deadline_equal_full_builds(tmp_path):
    """Two rounds: a resubmission in the newest, a deadline passing with no file changed, a resubmission in
    the first round. After each, the tables equal a full build of the same landing zone, and the published
    dq.issues is in the order of a full build."""
    land = tmp_path / "landing"
    synth(land, units=12, examinees_per_unit=4, rounds=2, fault_rate=0.3, seed=3)
    settings = Settings(landing=land, warehouse=tmp_path / "w.duckdb")
    between, after = "2025-01-01T00:00:00+08:00", "2026-01-01T00:00:00+08:00"  # S2024-R1's deadline, then S2025-R1's

    def resubmit_first(folder) -> str:
        original = sorted(p for p in folder.glob("U*.csv") if "__" not in p.stem)[0]
        shutil.copy(original, original.with_name(f"{original.stem}__v9.csv"))
        return original.stem

    assert any("full refresh" in m for m in refresh(land, settings.warehouse, between))
    for kind in ("progress", "exam"):
        resubmit_first(land / "S2025-R1" / kind)
    assert not any("full refresh" in m for m in refresh(land, settings.warehouse, between))
    assert_same_as_full_build(land, settings.work_db, tmp_path, "resubmission", between)

    log = refresh(land, settings.warehouse, after)  # no file changes, but S2025-R1's deadline passes
    assert not any("nothing new" in m for m in log), log
    assert_same_as_full_build(land, settings.work_db, tmp_path, "deadline", after)

    resubmit_first(land / "S2024-R1" / "progress")
    refresh(land, settings.warehouse, after)
    for published in (settings.warehouse, settings.analyst_warehouse):  # in the order of a full build
        con = duckdb.connect(str(published), read_only=True)
        stored, ordered = (
            con.execute(
                f"select round_id, unit_code, source, file_path, row_number, check_name from dq.issues {o}"
            ).fetchall()
            for o in ("", "order by " + ", ".join(PUBLISHED_ORDER[("dq", "issues")]))
        )
        con.close()
        assert stored == ordered and len({r[0] for r in stored}) == 2


def test_a_new_round_and_other_registry_changes_equal_full_builds(tmp_path):
    """A new round announced (its rounds.csv row, its scope.csv and files), a scope corrected, a unit
    renamed: each is an incremental build, and the tables then equal a full build."""
    land = tmp_path / "landing"
    synth(land, units=12, examinees_per_unit=4, rounds=2, fault_rate=0.3, seed=3)
    settings = Settings(landing=land, warehouse=tmp_path / "w.duckdb")
    rounds_csv, units_csv = land / "rounds.csv", land / "units.csv"
    announced = rounds_csv.read_text(encoding="utf-8")
    rounds_csv.write_text("".join(announced.splitlines(keepends=True)[:2]), encoding="utf-8")  # S2024-R1 only
    shutil.move(land / "S2025-R1", tmp_path / "S2025-R1")
    assert any("full refresh" in m for m in refresh(land, settings.warehouse))

    shutil.move(tmp_path / "S2025-R1", land / "S2025-R1")
    rounds_csv.write_text(announced, encoding="utf-8")
    log = refresh(land, settings.warehouse)
    assert not any("full refresh" in m for m in log), log
    assert_same_as_full_build(land, settings.work_db, tmp_path, "new round")

    scope = land / "S2025-R1" / "scope.csv"
    header, first, *rest = scope.read_text(encoding="utf-8").splitlines(keepends=True)
    unit, headcount, examinees = first.strip().split(",")
    scope.write_text("".join([header, f"{unit},{int(headcount) + 7},{examinees}\n", *rest]), encoding="utf-8")
    assert not any("full refresh" in m for m in refresh(land, settings.warehouse))
    assert_same_as_full_build(land, settings.work_db, tmp_path, "scope")

    units_csv.write_text(units_csv.read_text(encoding="utf-8").replace(f"{unit},", f"{unit},改名 "), encoding="utf-8")
    refresh(land, settings.warehouse)
    assert_same_as_full_build(land, settings.work_db, tmp_path, "unit renamed")
