"""`reformwatch check`: a clerk checks files before sending them, with the pipeline's own checks and
messages; nothing is written to the landing zone, the warehouse or the reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from landing_builder import Landing, csv_text, exam_rows, issues, run_pipeline

from reformwatch.contract import EXAM_COLUMNS

pytestmark = pytest.mark.slow

EXE = Path(sys.executable).with_name("reformwatch")


def check(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([EXE, "check", *args], capture_output=True, text=True, env={**os.environ, **(env or {})})


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()
    }


def test_a_clerk_checks_files_before_sending_them(tmp_path):
    land = Landing(tmp_path / "landing").good_round(skip=("BBB",))
    outbox = tmp_path / "outbox"  # the clerk's files, not in the landing zone
    outbox.mkdir()
    good = outbox / "BBB.csv"
    good.write_text(csv_text(EXAM_COLUMNS, exam_rows("BBB")), encoding="utf-8")
    rows = exam_rows("BBB", scores=[95, 85, 70])
    rows[1].update(score="九十")  # not a number
    rows[2].update(status="迟到")  # not a status
    bad = outbox / "BBB__v2.csv"
    bad.write_text(csv_text(EXAM_COLUMNS, rows), encoding="utf-8")
    misnamed = outbox / "bbb exam.csv"
    misnamed.write_text(csv_text(EXAM_COLUMNS, exam_rows("BBB")), encoding="utf-8")
    before = snapshot(land.root)
    elsewhere = {
        "REFORMWATCH_WAREHOUSE": str(tmp_path / "wh" / "w.duckdb"),
        "REFORMWATCH_REPORTS": str(tmp_path / "rep"),
    }

    ok = check(str(good), "--landing", str(land.root), env=elsewhere)
    assert ok.returncode == 0, ok.stderr
    assert "would be accepted" in ok.stdout

    out = check(str(bad), str(misnamed), "--landing", str(land.root), env=elsewhere)
    assert out.returncode == 1, out.stderr
    assert f"{bad}: 被退回 / would be rejected (2 error(s)" in out.stdout
    assert f"{misnamed}: 被退回 / would be rejected (1 error(s)" in out.stdout
    lines = out.stdout.splitlines()
    assert any("row 2" in ln and "(invalid_value)" in ln for ln in lines)
    assert any("row 3" in ln and "(unknown_status)" in ln for ln in lines)
    assert any("file" in ln and "(unreadable_file)" in ln for ln in lines)

    # nothing written: the landing zone, the warehouse and the reports stay as they were
    assert snapshot(land.root) == before
    assert not (tmp_path / "wh").exists() and not (tmp_path / "rep").exists()

    # the same messages as the pipeline's, once the file has landed
    (land.path("exam", bad.name)).write_bytes(bad.read_bytes())
    con = run_pipeline(land.root, tmp_path / "landed.duckdb")
    landed = {
        (i["row_number"], i["check_name"]): i["detail"]
        for i in issues(con)
        if (i["file_path"] or "").endswith(bad.name)
    }
    con.close()
    assert {k[1] for k in landed} >= {"invalid_value", "unknown_status"}
    for key, detail in landed.items():
        assert f"({key[1]}): {detail}" in out.stdout


def test_check_says_why_it_cannot_run(tmp_path):
    out = check(str(tmp_path / "missing.csv"), "--landing", str(tmp_path))
    assert out.returncode == 2 and "no such file" in out.stderr
    (tmp_path / "AAA.csv").write_text("x\n", encoding="utf-8")
    out = check(str(tmp_path / "AAA.csv"), "--landing", str(tmp_path))
    assert out.returncode == 2 and "no rounds.csv" in out.stderr
