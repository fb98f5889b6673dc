"""A round's life, refreshed by `reformwatch run` into one warehouse: announced with no files, progress
returns only, half of the exam sheets, all that come, the deadline passed, a late correction of an older
round, the next round announced. Every refresh exits 0 and publishes, and the published marts and
issues equal a from-scratch run on the same landing zone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
from landing_builder import Landing, exam_rows, rows, warehouse_snapshot

EXE = Path(sys.executable).parent / "reformwatch"
TABLES = (
    "marts.reform_unit_round",
    "marts.reform_round",
    "marts.exam_unit_round",
    "marts.exam_level_round",
    "marts.exam_round",
    "marts.unit_round_sources",
    "dq.issues",
)
ROUNDS = {  # round -> deadline
    "2023-R4": "2023-12-31T18:00:00+08:00",
    "2024-R1": "2024-06-30T18:00:00+08:00",
    "2024-R2": "2024-12-31T18:00:00+08:00",
}
BEFORE, AFTER = "2024-06-01T00:00:00+08:00", "2024-07-15T00:00:00+08:00"


def announce(land: Landing, *rounds: str) -> None:
    """rounds.csv lists `rounds`, each with a scope.csv of the three units (the office's registries)."""
    (land.root / "rounds.csv").write_text(
        "round_id,title,deadline,exam_questions,exam_full_marks,exam_minutes,pass_mark,excellent_mark\n"
        + "".join(f"{r},轮次 {r},{ROUNDS[r]},45,100,30,60,90\n" for r in rounds),
        encoding="utf-8",
    )
    for r in rounds:
        (land.root / r).mkdir(exist_ok=True)
        (land.root / r / "scope.csv").write_text(
            "unit_code,cadre_headcount,min_examinees\nAAA,50,3\nBBB,50,3\nCCC,50,3\n", encoding="utf-8"
        )


def refresh(landing: Path, warehouse: Path, as_of: str) -> None:
    out = subprocess.run(
        [str(EXE), "run", "--landing", str(landing), "--warehouse", str(warehouse), "--as-of", as_of],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr and warehouse.is_file()


def test_a_rounds_life_publishes_at_every_step(tmp_path):
    land = Landing(tmp_path / "landing")
    older = Landing(tmp_path / "landing", round_id="2023-R4", deadline=ROUNDS["2023-R4"])
    older.good_round()  # an older round, complete
    announce(land, "2023-R4", "2024-R1")
    wh = tmp_path / "wh" / "warehouse.duckdb"
    step = 0

    def check(as_of: str) -> duckdb.DuckDBPyConnection:
        nonlocal step
        step += 1
        refresh(land.root, wh, as_of)
        fresh = tmp_path / f"fresh{step}" / "warehouse.duckdb"
        refresh(land.root, fresh, as_of)
        assert warehouse_snapshot(wh, TABLES) == warehouse_snapshot(fresh, TABLES), f"step {step}"
        shutil.rmtree(fresh.parent)
        return duckdb.connect(str(wh), read_only=True)

    def of_round(con: duckdb.DuckDBPyConnection, table: str) -> list[dict]:
        return rows(con, f"select * from {table} where round_id = '2024-R1' order by all")

    # 1. announced: no file yet; each round mart has its row, the per-unit marts none
    con = check(BEFORE)
    assert [(r["units_in_scope"], r["units_reported"]) for r in of_round(con, "marts.reform_round")] == [(3, 0)]
    exam = of_round(con, "marts.exam_round")
    assert [(r["units"], r["examinees"], r["avg_score"], r["cadre_headcount"]) for r in exam] == [(0, 0, None, 150)]
    for table in ("marts.reform_unit_round", "marts.exam_unit_round", "marts.exam_level_round"):
        assert of_round(con, table) == [], table
    assert of_round(con, "dq.issues") == []
    con.close()
    bulletin = (tmp_path / "wh" / "reports" / "2024-R1" / "bulletin.md").read_text(encoding="utf-8")
    assert "本轮尚无有效的考试成绩" in bulletin and "本轮尚无有效的工作进展报表" in bulletin
    assert "| 名次 |" not in bulletin  # no empty table

    # 2. progress returns only
    for u in ("AAA", "BBB", "CCC"):
        land.progress(u)
    con = check(BEFORE)
    assert [r["units_reported"] for r in of_round(con, "marts.reform_round")] == [3]
    assert of_round(con, "marts.exam_unit_round") == [] and of_round(con, "marts.exam_level_round") == []
    con.close()
    bulletin = (tmp_path / "wh" / "reports" / "2024-R1" / "bulletin.md").read_text(encoding="utf-8")
    assert "本轮尚无有效的考试成绩" in bulletin and "本轮尚无有效的工作进展报表" not in bulletin

    # 3. half of the exam sheets
    land.exam("AAA")
    con = check(BEFORE)
    assert [r["units"] for r in of_round(con, "marts.exam_round")] == [1]
    con.close()

    # 4. all that come before the deadline (CCC's never does)
    land.exam("BBB", rows=exam_rows("BBB", scores=[90, 80, 70]))
    con = check(BEFORE)
    assert [r["units"] for r in of_round(con, "marts.exam_round")] == [2]
    assert [i for i in of_round(con, "dq.issues") if i["check_name"].startswith("missing_")] == []
    con.close()

    # 5. the deadline has passed: CCC's sheet is missing
    con = check(AFTER)
    missing = [(i["unit_code"], i["check_name"]) for i in of_round(con, "dq.issues") if "missing" in i["check_name"]]
    assert missing == [("CCC", "missing_exam_results")]
    con.close()

    # 6. a late correction of the older round
    older.progress("BBB", "BBB__v2.csv", service_items_online=20)
    con = check(AFTER)
    assert rows(
        con, "select version, online_rate from marts.reform_unit_round where round_id = '2023-R4' and unit_code = 'BBB'"
    ) == [{"version": 2, "online_rate": 0.2}]
    con.close()

    # 7. the next round announced, without files
    announce(land, "2023-R4", "2024-R1", "2024-R2")
    con = check(AFTER)
    assert rows(con, "select round_id, units_reported from marts.reform_round order by 1") == [
        {"round_id": "2023-R4", "units_reported": 3},
        {"round_id": "2024-R1", "units_reported": 3},
        {"round_id": "2024-R2", "units_reported": 0},
    ]
    assert rows(con, "select count(*) as n from marts.exam_unit_round where round_id = '2024-R2'") == [{"n": 0}]
    con.close()
