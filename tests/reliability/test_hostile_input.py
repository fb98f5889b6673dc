"""Hostile and odd input: unsafe names and links are rejected unread; odd spreadsheets are handled."""

from __future__ import annotations

import os

from landing_builder import Landing, exam_rows, issues, progress_row, rows, run_pipeline

from reformwatch.contract import EXAM_COLUMNS, PROGRESS_COLUMNS


def test_unsafe_names_and_links_are_rejected_and_never_read(tmp_path):
    land = Landing(tmp_path / "landing").good_round()
    outside = tmp_path / "outside"
    outside.mkdir()
    fifo = outside / "secret.csv"
    os.mkfifo(fifo)  # reading it would block the run forever: the test only passes if it is never opened
    progress = land.root / "2024-R1" / "progress"
    (progress / "BBB__v2.csv").symlink_to(fifo)
    (progress / "..AAA.csv").write_text("x")
    (progress / "AAA .csv").write_text("x")
    (progress / "甲厅.csv").write_text("x")
    (progress / "AAA\\..\\BBB.csv").write_text("x")
    (progress / "sub").mkdir()
    (progress / "sub" / "AAA.csv").write_text("x")
    con = run_pipeline(land.root, tmp_path / "w.duckdb")
    found = {i["file_path"]: i for i in issues(con, "unreadable_file")}
    assert set(found) == {
        "2024-R1/progress/BBB__v2.csv",
        "2024-R1/progress/..AAA.csv",
        "2024-R1/progress/AAA .csv",
        "2024-R1/progress/甲厅.csv",
        "2024-R1/progress/AAA\\..\\BBB.csv",
        "2024-R1/progress/sub",
    }
    assert "outside the landing zone" in found["2024-R1/progress/BBB__v2.csv"]["detail"]
    assert all(i["severity"] == "error" for i in found.values())
    assert {r["unit_code"] for r in rows(con, "select unit_code from marts.reform_unit_round")} == {"AAA", "BBB", "CCC"}


def test_a_link_inside_the_landing_zone_is_followed(tmp_path):
    land = Landing(tmp_path / "landing").good_round(skip=("CCC",))
    land.exam("CCC")
    land.progress("CCC", name="CCC_original.csv")  # bad name: rejected, but a link with a good name points at it
    (land.root / "2024-R1" / "progress" / "CCC.csv").symlink_to(land.root / "2024-R1" / "progress" / "CCC_original.csv")
    con = run_pipeline(land.root, tmp_path / "w.duckdb")
    assert "CCC" in {r["unit_code"] for r in rows(con, "select unit_code from marts.reform_unit_round")}


def test_files_over_the_size_limit_are_rejected_unread(tmp_path, monkeypatch):
    monkeypatch.setenv("REFORMWATCH_MAX_FILE_MB", "1")
    land = Landing(tmp_path / "landing").good_round(skip=("AAA",))
    land.progress("AAA")
    big = exam_rows("AAA") * 4000  # about 1.3 MB
    land.exam("AAA", rows=big)
    con = run_pipeline(land.root, tmp_path / "w.duckdb")
    i = issues(con, "unreadable_file")
    assert len(i) == 1 and "over the 1 MB limit" in i[0]["detail"]


def test_spreadsheet_with_extra_sheets_merged_cells_and_formulas(tmp_path):
    from openpyxl import Workbook

    land = Landing(tmp_path / "landing").good_round(skip=("BBB",))
    wb = Workbook()
    ws = wb.active
    ws.append(list(PROGRESS_COLUMNS))
    ws.append(list(progress_row("BBB").values()))
    ws.append([])
    ws.merge_cells("A3:C3")  # a merged, empty area under the data: ignored as a blank row
    extra = wb.create_sheet("notes")
    extra.append(["this sheet is ignored"])
    hidden = wb.create_sheet("hidden")
    hidden.sheet_state = "hidden"
    wb.save(land.path("progress", "BBB.xlsx"))
    wb = Workbook()
    ws = wb.active
    ws.append(list(EXAM_COLUMNS))
    for r in exam_rows("BBB"):
        ws.append(list(r.values()))
    ws["F2"] = "=90+5"  # a formula without a cached value (as openpyxl writes it): its score is missing
    wb.save(land.path("exam", "BBB.xlsx"))
    con = run_pipeline(land.root, tmp_path / "w.duckdb")
    assert "BBB" in {r["unit_code"] for r in rows(con, "select unit_code from marts.reform_unit_round")}
    got = [(i["check_name"], i["row_number"]) for i in issues(con) if i["source"] == "exam"]
    assert got == [("missing_score", 1)], got
    assert rows(con, "select examinees from marts.exam_unit_round where unit_code = 'BBB'")[0]["examinees"] == 4


def test_sql_looking_cells_are_data(tmp_path):
    land = Landing(tmp_path / "landing").good_round(skip=("CCC",))
    land.progress("CCC")
    bad = exam_rows("CCC")
    bad[0]["examinee_id"] = "x'); drop table raw.files; --"
    bad[1]["rank_level"] = "'; select 1; --"
    land.exam("CCC", rows=bad)
    con = run_pipeline(land.root, tmp_path / "w.duckdb")
    assert "'; select 1; --" in issues(con, "unknown_rank_level")[0]["detail"]
    assert rows(con, "select examinees from marts.exam_unit_round where unit_code = 'CCC'")[0]["examinees"] == 4
