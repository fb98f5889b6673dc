"""Incremental dbt builds (per-file exam rows and progress returns) give the same warehouse as a full build
of the same landing zone."""

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
    assert_same_as_full_build(land.root, wh, tmp_path, "resubmission")

    # one kind changes: the other kind's models are kept as they are, and still equal a full build
    land.progress("BBB", "BBB__v2.csv", service_items_online=39)
    log = refresh(land.root, wh)
    assert any("exam models kept: no exam file changed" in m for m in log)
    assert not any("progress models kept" in m for m in log)
    assert_same_as_full_build(land.root, wh, tmp_path, "progress only")
    land.exam("CCC", "CCC__v2.csv", rows=exam_rows("CCC", scores=[55, 65, 75]))
    log = refresh(land.root, wh)
    assert any("progress models kept: no progress file changed" in m for m in log)
    assert not any("exam models kept" in m for m in log)
    assert_same_as_full_build(land.root, wh, tmp_path, "exam only")

    # a version removed from the landing zone: its rows leave the incremental table
    (land.root / land.round_id / "exam" / "BBB__v2.csv").unlink()
    (land.root / land.round_id / "exam" / "CCC.csv").unlink()
    (land.root / land.round_id / "exam" / "CCC__v2.csv").unlink()
    (land.root / land.round_id / "progress" / "AAA__v2.csv").unlink()
    refresh(land.root, wh)
    assert_same_as_full_build(land.root, wh, tmp_path, "removal")
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
    assert_same_as_full_build(land.root, wh, tmp_path, "registry")


MARKED = {  # roll-up tables: a text column with no data test on its value, and the rows dbt builds
    "marts.reform_unit_round": ("unit_name", "true"),
    "marts.exam_unit_round": ("unit_name", "true"),
    "marts.unit_round_sources": ("unit_name", "true"),
    "dq.issues": ("detail", "source <> 'expectations'"),  # the checks add those of every round again
}
PER_UNIT = ("marts.reform_unit_round", "marts.unit_round_sources", "dq.issues")  # rebuilt unit by unit


def mark_rows(work_db) -> None:
    """Mark every roll-up row (MARKED) in the work database: a rebuilt row loses its mark."""
    con = duckdb.connect(str(work_db))
    for table, (column, rows) in MARKED.items():
        con.execute(f"update {table} set {column} = {column} || ' (kept)' where {rows}")
    con.close()


def count_marks(work_db, round_id: str, tables=tuple(MARKED), units: str = "true") -> int:
    """The marked rows of a round (of its units matching `units`) that a build kept."""
    con = duckdb.connect(str(work_db), read_only=True)
    try:
        counts = [
            f"select count(*) from {t} where round_id = $1 and ({units}) and {MARKED[t][0]} like '% (kept)'"
            for t in tables
        ]
        return sum(con.execute(q, [round_id]).fetchone()[0] for q in counts)
    finally:
        con.close()


def unmark(work_db) -> None:
    con = duckdb.connect(str(work_db))
    for table, (column, _) in MARKED.items():
        con.execute(f"update {table} set {column} = replace({column}, ' (kept)', '')")
    con.close()


def test_an_incremental_build_rebuilds_the_rounds_and_units_that_changed_only(tmp_path):
    """Two rounds. An incremental build rewrites the roll-up models' rows of the units with a changed file
    (and the totals and ranks of their round), or of a whole round whose deadline has passed since the
    last build, and leaves the other rows as they are (marked here in the work database); the tables
    then equal a full build of the same landing zone."""
    land = tmp_path / "landing"
    synth(land, units=12, examinees_per_unit=4, rounds=2, fault_rate=0.3, seed=3)
    settings = Settings(landing=land, warehouse=tmp_path / "w.duckdb")
    between, after = "2025-01-01T00:00:00+08:00", "2026-01-01T00:00:00+08:00"  # S2024-R1's deadline, then S2025-R1's

    def marks(round_id: str, tables=tuple(MARKED), units: str = "true") -> int:
        return count_marks(settings.work_db, round_id, tables, units)

    def same_as_full_build(as_of: str, name: str) -> None:
        unmark(settings.work_db)
        assert_same_as_full_build(land, settings.work_db, tmp_path, name, as_of)

    def mark_every_round() -> None:
        mark_rows(settings.work_db)

    def resubmit_first(folder) -> str:
        original = sorted(p for p in folder.glob("U*.csv") if "__" not in p.stem)[0]
        shutil.copy(original, original.with_name(f"{original.stem}__v9.csv"))
        return original.stem

    assert any("full refresh" in m for m in refresh(land, settings.warehouse, between))
    mark_every_round()
    before = marks("S2024-R1")
    assert before > 0 and marks("S2025-R1") > 0

    # a progress return and an exam sheet resubmitted in S2025-R1, by one unit
    unit = {resubmit_first(land / "S2025-R1" / kind) for kind in ("progress", "exam")}
    assert len(unit) == 1
    (unit,) = unit
    others = f"unit_code is distinct from '{unit}'"
    others_before = marks("S2025-R1", PER_UNIT, others)
    assert others_before > 0
    log = refresh(land, settings.warehouse, between)
    assert any(f"rounds rebuilt: S2025-R1 (units {unit} only))" in m for m in log), log
    assert marks("S2024-R1") == before
    assert marks("S2025-R1", PER_UNIT, f"unit_code = '{unit}'") == 0  # the unit's rows are rebuilt,
    assert marks("S2025-R1", ("marts.exam_unit_round",)) == 0  # the round's ranks too,
    assert marks("S2025-R1", PER_UNIT, others) == others_before  # the other units' rows are kept
    same_as_full_build(between, "resubmission")

    # no file changes, but S2025-R1's deadline passes: its missing-submission issues appear
    mark_every_round()
    log = refresh(land, settings.warehouse, after)
    assert any("rounds rebuilt: S2025-R1)" in m for m in log), log
    assert marks("S2024-R1") == before and marks("S2025-R1") == 0
    same_as_full_build(after, "deadline")

    # a resubmission in the first round: its rebuilt rows follow the second round's in the work database,
    # but the published dq.issues is in the order of a full build
    unit = resubmit_first(land / "S2024-R1" / "progress")
    assert any(f"rounds rebuilt: S2024-R1 (units {unit} only))" in m for m in refresh(land, settings.warehouse, after))
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


def test_a_new_round_and_other_registry_changes_rebuild_only_the_rounds_they_concern(tmp_path):
    """Each round comes with its own rounds.csv row and scope.csv: announcing it rebuilds that round, not
    the history. A scope change rebuilds its round; a unit renamed, the rounds with the unit in scope. The
    tables then equal a full build of the same landing zone."""
    land = tmp_path / "landing"
    synth(land, units=12, examinees_per_unit=4, rounds=2, fault_rate=0.3, seed=3)
    settings = Settings(landing=land, warehouse=tmp_path / "w.duckdb")
    rounds_csv, units_csv = land / "rounds.csv", land / "units.csv"
    announced = rounds_csv.read_text(encoding="utf-8")
    rounds_csv.write_text("".join(announced.splitlines(keepends=True)[:2]), encoding="utf-8")  # S2024-R1 only
    shutil.move(land / "S2025-R1", tmp_path / "S2025-R1")
    assert any("full refresh" in m for m in refresh(land, settings.warehouse))
    mark_rows(settings.work_db)
    before = count_marks(settings.work_db, "S2024-R1")
    assert before > 0

    # the office announces S2025-R1 (its row in rounds.csv, its scope) and the units' files land
    shutil.move(tmp_path / "S2025-R1", land / "S2025-R1")
    rounds_csv.write_text(announced, encoding="utf-8")
    log = refresh(land, settings.warehouse)
    assert not any("full refresh" in m for m in log), log
    assert any("registries changed" in m and "rounds rebuilt: S2025-R1)" in m for m in log), log
    assert count_marks(settings.work_db, "S2024-R1") == before  # the history is kept as it was
    unmark(settings.work_db)
    assert_same_as_full_build(land, settings.work_db, tmp_path, "new round")

    # a unit's headcount corrected in S2025-R1's scope: that round only
    scope = land / "S2025-R1" / "scope.csv"
    header, first, *rest = scope.read_text(encoding="utf-8").splitlines(keepends=True)
    unit, headcount, examinees = first.strip().split(",")
    scope.write_text("".join([header, f"{unit},{int(headcount) + 7},{examinees}\n", *rest]), encoding="utf-8")
    mark_rows(settings.work_db)
    log = refresh(land, settings.warehouse)
    assert any("rounds rebuilt: S2025-R1)" in m for m in log), log
    assert count_marks(settings.work_db, "S2024-R1") == before and count_marks(settings.work_db, "S2025-R1") == 0
    unmark(settings.work_db)
    assert_same_as_full_build(land, settings.work_db, tmp_path, "scope")

    # a unit renamed: every round with the unit in scope (both here)
    units_csv.write_text(units_csv.read_text(encoding="utf-8").replace(f"{unit},", f"{unit},改名 "), encoding="utf-8")
    log = refresh(land, settings.warehouse)
    assert any("rounds rebuilt: S2024-R1, S2025-R1)" in m for m in log), log
    assert_same_as_full_build(land, settings.work_db, tmp_path, "unit renamed")
