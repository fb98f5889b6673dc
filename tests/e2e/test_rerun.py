"""Re-running gives an identical warehouse; the landing zone's bytes are never changed."""

from __future__ import annotations

import hashlib
import shutil

from landing_builder import CONTRACT_TABLES, rows, run_pipeline, warehouse_snapshot

from reformwatch.config import SAMPLE_LANDING


def snapshot(con) -> dict[str, list]:
    return {t: rows(con, f"select * from {t} order by all") for t in CONTRACT_TABLES}


def tree_digest(root) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_rerun_is_identical_and_landing_untouched(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    before = tree_digest(landing)
    mtimes = {p: p.stat().st_mtime_ns for p in landing.rglob("*")}
    wh = tmp_path / "wh.duckdb"
    con = run_pipeline(landing, wh)
    first = snapshot(con)
    con.close()
    con = run_pipeline(landing, wh)
    assert snapshot(con) == first
    con.close()
    assert tree_digest(landing) == before
    assert {p: p.stat().st_mtime_ns for p in landing.rglob("*")} == mtimes
    assert len(first["marts.exam_unit_round"]) == 18


def test_two_fresh_warehouses_agree_except_detection_time(tmp_path):
    run_pipeline(SAMPLE_LANDING, tmp_path / "a.duckdb").close()
    run_pipeline(SAMPLE_LANDING, tmp_path / "b.duckdb").close()
    sa, sb = warehouse_snapshot(tmp_path / "a.duckdb"), warehouse_snapshot(tmp_path / "b.duckdb")
    assert sa == sb and len(sa["dq.issues"]) == 3
