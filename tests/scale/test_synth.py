"""`reformwatch synth` writes contract landing zones: a small one runs clean except for exactly the faults it
planted; bulk and per-file parsing give the same warehouse; incremental re-runs."""

from __future__ import annotations

import json
import os
import shutil

import duckdb
import pytest
from landing_builder import rows, run_pipeline

from reformwatch.synth import synth

AS_OF = "2026-01-01T00:00:00+08:00"  # after both synthetic rounds' deadlines
MARTS = ["reform_unit_round", "reform_round", "exam_unit_round", "exam_level_round", "exam_round"]


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "landing"
    res = synth(out, units=60, examinees_per_unit=6, rounds=2, fault_rate=0.4, seed=7)
    assert res.faults and res.files > 200
    return out


def snapshot(con) -> dict:
    snap = {
        m: rows(con, f"select * exclude (source_file) from marts.{m} order by all")
        if m in ("reform_unit_round", "exam_unit_round")
        else rows(con, f"select * from marts.{m} order by all")
        for m in MARTS
    }
    snap["issues"] = rows(con, "select * exclude (detected_at) from dq.issues order by all")
    return snap


def test_synth_is_deterministic(tmp_path):
    a = synth(tmp_path / "a", units=20, examinees_per_unit=4, rounds=1, fault_rate=0.5, seed=3)
    b = synth(tmp_path / "b", units=20, examinees_per_unit=4, rounds=1, fault_rate=0.5, seed=3)
    files_a = {p.relative_to(a.out): p.read_bytes() for p in a.out.rglob("*.csv")}
    files_b = {p.relative_to(b.out): p.read_bytes() for p in b.out.rglob("*.csv")}
    assert files_a == files_b and a.faults == b.faults


def test_runs_clean_except_the_planted_faults(landing, tmp_path):
    con = run_pipeline(landing, tmp_path / "w.duckdb", as_of=AS_OF)
    planted = {
        (f["round_id"], f["unit_code"], f["source"], f["check_name"])
        for f in json.loads((landing / "faults.json").read_text())
    }
    got = {
        tuple(r.values())
        for r in rows(
            con, "select round_id, unit_code, source, check_name from dq.issues where source != 'expectations'"
        )
    }
    assert got == planted
    assert len({f[3] for f in planted}) >= 8  # many different checks exercised
    encodings = {
        r[0]
        for r in duckdb.connect(str(tmp_path / "w.duckdb.work" / "work.duckdb"), read_only=True)
        .execute("select distinct encoding from raw.files")
        .fetchall()
    }
    assert {"utf-8", "gb18030", "xlsx"} <= encodings


def test_bulk_and_per_file_parsing_agree(landing, tmp_path, monkeypatch):
    bulk = snapshot(run_pipeline(landing, tmp_path / "bulk.duckdb", as_of=AS_OF))
    monkeypatch.setenv("REFORMWATCH_INGEST_PER_FILE", "1")
    per_file_con = run_pipeline(landing, tmp_path / "per_file.duckdb", as_of=AS_OF)
    work = duckdb.connect(str(tmp_path / "per_file.duckdb.work" / "work.duckdb"), read_only=True)
    assert work.execute("select count(*) from raw.files where parse_path = 'bulk'").fetchone()[0] == 0
    work.close()
    assert snapshot(per_file_con) == bulk


def resubmit_one(land) -> str:
    """Copy a clean unit's UTF-8 return of the last round as its version 9, with one figure changed."""
    faulty = {f["unit_code"] for f in json.loads((land / "faults.json").read_text())}
    for path in sorted((land / "S2025-R1" / "progress").glob("U*.csv")):
        unit = path.stem.split("__")[0]
        if unit in faulty or "__" in path.stem:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        header, row = text.splitlines()[:2]
        cells = row.split(",")
        cells[4] = str(int(cells[4]) + 1)  # one_visit_items
        (path.parent / f"{unit}__v9.csv").write_text(f"{header}\n{','.join(cells)}\n", encoding="utf-8")
        return unit
    raise AssertionError("no clean UTF-8 return found")


def test_one_resubmission_rereads_one_file_and_noop_rebuilds_nothing(landing, tmp_path):
    from reformwatch.config import Settings
    from reformwatch.pipeline import parse_as_of, run

    land = tmp_path / "landing"
    shutil.copytree(landing, land)
    settings = Settings(landing=land, warehouse=tmp_path / "w.duckdb")
    log: list[str] = []
    first = run(settings, parse_as_of(AS_OF), say=log.append)
    before = snapshot(duckdb.connect(str(settings.warehouse), read_only=True))
    noop = run(settings, parse_as_of(AS_OF), say=log.append)
    assert noop.ingest.files_read == 0 and not noop.rebuilt
    assert any("nothing new" in m for m in log)
    assert snapshot(duckdb.connect(str(settings.warehouse), read_only=True)) == before

    unit = resubmit_one(land)
    again = run(settings, parse_as_of(AS_OF), say=log.append)
    assert first.ingest.files_read > 200 and again.ingest.files_read == 1 and again.rebuilt
    after = snapshot(duckdb.connect(str(settings.warehouse), read_only=True))
    changed = [r for r in after["reform_unit_round"] if r["unit_code"] == unit and r["round_id"] == "S2025-R1"]
    assert changed[0]["version"] == 9
    for table in ("reform_round", "exam_round", "reform_unit_round"):  # the other round is untouched
        assert [r for r in after[table] if r["round_id"] == "S2024-R1"] == [
            r for r in before[table] if r["round_id"] == "S2024-R1"
        ]
    assert os.path.exists(settings.work_db)
