"""What an incremental build rebuilds (reformwatch.rebuild_scope), from the digests of the last successful
build and its list of files, without dbt."""

from __future__ import annotations

import json

import duckdb
import pytest

from reformwatch import rebuild_scope as rs
from reformwatch.rebuild_scope import RebuildScope, changed_rounds, keep_built_files, rebuild_scope, round_digests


def parts(**rounds: str) -> str:
    """pipeline_state parts with these round digests (written as round_digests writes them)."""
    return json.dumps({"rounds": rounds})


def test_a_rounds_digest_is_its_files_whether_its_deadline_passed_and_its_registries():
    """The registry's rounds and the round folders landed, each with its files' digest, deadline state and
    what the registries say of it (a round folder that is not a registered round: -)."""
    said = {"R1": {"registry": "r1", "marks": "100|60|90"}, "R2": {"registry": "r2", "marks": "100|60|90"}}
    digests = round_digests({"R1": "a", "R3": "c"}, {"R1", "R2"}, {"R2"}, said)
    assert digests == {"R1": "a|open|r1", "R2": "|passed|r2", "R3": "c|open|-"}


def test_a_rounds_registries_changed_rebuild_it_whole(con):
    """Its rounds.csv row, scope or units in scope: every unit's rows may change."""
    keep_built_files(con)
    land(con, "R1/progress/A__v2.csv", "R1", "A", 100)
    built = parts(R1="a|open|r1", R2="b|open|r2")
    assert rebuild_scope(con, parts(R1="a2|open|r1", R2="b|open|r2b"), built) == RebuildScope(["R2"], {"R1": ["A"]})
    assert rebuild_scope(con, parts(R1="a2|open|r1b", R2="b|open|r2"), built) == RebuildScope(["R1"], {})


def test_other_marks_for_a_built_round_or_unknown_marks_make_a_full_refresh():
    def registries(**marks: str) -> str:
        return json.dumps({"round_registries": {r: {"registry": r, "marks": m} for r, m in marks.items()}})

    built = registries(R1="100|60|90")
    assert not rs.marks_changed(registries(R1="100|60|90", R2="50|30|45"), built)  # a new round
    assert not rs.marks_changed(registries(R2="50|30|45"), built)  # a round gone
    assert rs.marks_changed(registries(R1="100|65|90"), built)
    assert rs.marks_changed(registries(R1="100|60|90"), json.dumps({"rounds": {}}))  # built before they were kept
    assert not rs.registries_changed(json.dumps({"registries": "x"}), json.dumps({"registries": "x"}))
    assert rs.registries_changed(json.dumps({"registries": "y"}), json.dumps({"registries": "x"}))
    assert rs.registries_changed(json.dumps({}), json.dumps({}))


def test_changed_rounds_are_those_whose_digest_differs_or_unknown():
    """A changed, new or gone round; None (every round) when the last build kept no digests (a warehouse
    built before they were kept)."""
    built = parts(R1="a|passed", R2="b|open", R3="c|open")
    pending = parts(R1="a|passed", R2="b|passed", R4="d|open")
    assert changed_rounds(pending, built) == ["R2", "R3", "R4"]
    assert changed_rounds(built, built) == []
    assert changed_rounds(pending, json.dumps({"exam": "x"})) is None
    assert changed_rounds(pending, None) is None


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("create schema raw")
    con.execute(
        "create table raw.landing_files (path varchar, round_id varchar, kind varchar, unit_code varchar, "
        "version integer, ext varchar, size bigint, mtime_ns bigint, file_id bigint, check_name varchar, "
        "detail varchar, first_seen_at timestamptz)"
    )
    files = [(r, u, k) for r in ("R1", "R2") for u in ("A", "B", "C") for k in ("progress", "exam")]
    for i, (r, u, k) in enumerate(files, start=1):
        con.execute(
            "insert into raw.landing_files values (?, ?, ?, ?, 1, 'csv', 10, 1, ?, null, null, now())",
            [f"{r}/{k}/{u}.csv", r, k, u, i],
        )
    yield con
    con.close()


def land(con, path: str, round_id: str, unit: str | None, file_id: int | None, check: str | None = None) -> None:
    con.execute(
        "insert into raw.landing_files values (?, ?, 'progress', ?, 2, 'csv', 10, 1, ?, ?, ?, now())",
        [path, round_id, unit, file_id, check, check and "why"],
    )


def test_a_resubmission_rebuilds_its_units_only(con):
    keep_built_files(con)
    built = parts(R1="a|open", R2="b|open")
    land(con, "R2/progress/B__v2.csv", "R2", "B", 100)
    con.execute("delete from raw.landing_files where path = 'R2/exam/C.csv'")  # a sheet withdrawn
    land(con, "R2/progress/bad name.csv", "R2", None, None, "unreadable_file")  # a file without a unit
    scope = rebuild_scope(con, parts(R1="a|open", R2="b2|open"), built)
    assert scope == RebuildScope([], {"R2": ["B", "C"]})
    assert scope.describe() == "R2 (units B, C only)"
    assert json.loads(scope.env()["REFORMWATCH_REBUILD_UNITS"]) == {"R2": ["B", "C"]}
    assert json.loads(scope.env()["REFORMWATCH_REBUILD_ROUNDS"]) == []


def test_a_file_without_a_unit_rebuilds_the_rounds_rows_without_a_unit(con):
    keep_built_files(con)
    land(con, "R1/progress/x.csv", "R1", None, None, "unreadable_file")
    scope = rebuild_scope(con, parts(R1="a2|open", R2="b|open"), parts(R1="a|open", R2="b|open"))
    assert scope == RebuildScope([], {"R1": []})
    assert scope.describe() == "R1 (files without a unit only)"


def test_a_passed_deadline_or_a_new_round_rebuilds_the_round_whole(con):
    keep_built_files(con)
    land(con, "R1/progress/A__v2.csv", "R1", "A", 100)
    scope = rebuild_scope(con, parts(R1="a2|passed", R2="b|open", R3="c|open"), parts(R1="a|open", R2="b|open"))
    assert scope == RebuildScope(["R1", "R3"], {})
    assert scope.describe() == "R1, R3"


def test_many_units_changed_rebuild_the_round_whole(con, monkeypatch):
    keep_built_files(con)
    monkeypatch.setattr(rs, "UNIT_LIMIT", 1)
    land(con, "R1/progress/A__v2.csv", "R1", "A", 100)
    land(con, "R1/progress/B__v2.csv", "R1", "B", 101)
    land(con, "R2/progress/A__v2.csv", "R2", "A", 102)
    scope = rebuild_scope(con, parts(R1="a2|open", R2="b2|open"), parts(R1="a|open", R2="b|open"))
    assert scope == RebuildScope(["R1"], {"R2": ["A"]})


def test_without_the_last_builds_files_a_changed_round_is_rebuilt_whole(con):
    """A warehouse built before the list of files was kept."""
    land(con, "R1/progress/A__v2.csv", "R1", "A", 100)
    assert rebuild_scope(con, parts(R1="a2|open", R2="b|open"), parts(R1="a|open", R2="b|open")) == RebuildScope(
        ["R1"], {}
    )


def test_nothing_changed_and_nothing_known():
    assert rebuild_scope(None, parts(R1="a|open"), parts(R1="a|open")) == RebuildScope([], {})
    unknown = rebuild_scope(None, parts(R1="a|open"), None)
    assert unknown == RebuildScope() and unknown.env() == {} and unknown.describe() == "every round"


def test_the_kept_files_become_those_of_the_landing_zone(con):
    keep_built_files(con)
    land(con, "R2/progress/B__v2.csv", "R2", "B", 100)
    con.execute("delete from raw.landing_files where path = 'R2/exam/C.csv'")
    con.execute("update raw.landing_files set check_name = 'unreadable_file' where path = 'R1/exam/A.csv'")
    keep_built_files(con)
    columns = "round_id, unit_code, kind, path, file_id, check_name, detail"
    kept, landed = (
        sorted(con.execute(f"select {columns} from raw.{t}").fetchall(), key=str)
        for t in ("built_landing_files", "landing_files")
    )
    assert kept == landed and len(kept) == 12
    assert rs._changed_units(con, ["R1", "R2"]) == {}
