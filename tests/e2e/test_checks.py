"""One test per contract check (CONTRACT.md section 3), each on a small landing zone made in the test.

Each asserts the dq.issues row (check, severity, unit, file, detail naming the problem) and that the
bad record is excluded (error) or counted (warning) while good units are untouched.
"""

from __future__ import annotations

from landing_builder import (
    BEFORE_DEADLINE,
    after_the_scan,
    exam_rows,
    issues,
    progress_row,
    replace_by_folder,
    rows,
    run_pipeline,
)

from reformwatch.config import Settings


def reform_units(con) -> dict[str, dict]:
    return {r["unit_code"]: r for r in rows(con, "select * from marts.reform_unit_round")}


def exam_units(con) -> dict[str, dict]:
    return {r["unit_code"]: r for r in rows(con, "select * from marts.exam_unit_round")}


def only(con, check: str) -> dict:
    found = issues(con, check)
    assert len(found) == 1, found
    return found[0]


def good_units_untouched(con, *units: str) -> None:
    ru, eu = reform_units(con), exam_units(con)
    for u in units:
        assert ru[u]["online_rate"] == 0.8 and ru[u]["version"] == 1
        assert eu[u]["examinees"] == 5 and eu[u]["avg_score"] == 82.0


def aaa_progress_rejected(con) -> dict:
    """AAA's progress return is the one unreadable_file (an error): AAA has no reform figures, the other
    units are untouched. Returns the issue row."""
    i = only(con, "unreadable_file")
    assert (i["severity"], i["unit_code"], i["source"], i["file_path"]) == (
        "error",
        "AAA",
        "progress",
        "2024-R1/progress/AAA.csv",
    )
    assert "AAA" not in reform_units(con)
    good_units_untouched(con, "BBB", "CCC")
    return i


def test_clean_round_has_no_issues(landing, warehouse):
    con = run_pipeline(landing.good_round().root, warehouse)
    assert issues(con) == []
    good_units_untouched(con, "AAA", "BBB", "CCC")


def test_unreadable_file_garbage_bytes(landing, warehouse):
    landing.good_round(skip=("AAA",))
    landing.write_bytes("progress", "AAA.csv", b"\x81\x00\xff\xfe garbage \x00\x13")
    landing.exam("AAA")
    i = aaa_progress_rejected(run_pipeline(landing.root, warehouse))
    assert "AAA.csv" in i["detail"] and ("CSV" in i["detail"] or "xlsx" in i["detail"])


def test_unreadable_file_that_cannot_be_opened(landing, warehouse, monkeypatch):
    """A file that cannot be opened when the run reads it (here replaced by a folder after the scan, as
    a file without read permission would fail): one issue naming the file and the fix, no crash."""
    landing.good_round()
    after_the_scan(monkeypatch, replace_by_folder(landing.root / "2024-R1" / "progress" / "AAA.csv"))
    i = aaa_progress_rejected(run_pipeline(landing.root, warehouse))
    assert "could not be opened" in i["detail"] and "save it again" in i["detail"]


def test_unreadable_file_bad_name_has_null_unit(landing, warehouse):
    landing.good_round()
    landing.write("progress", "police.csv", [progress_row("AAA")])
    con = run_pipeline(landing.root, warehouse)
    i = only(con, "unreadable_file")
    assert i["unit_code"] is None and i["file_path"] == "2024-R1/progress/police.csv"
    assert "rename" in i["detail"]
    good_units_untouched(con, "AAA", "BBB", "CCC")


def test_unreadable_file_missing_columns(landing, warehouse):
    landing.good_round(skip=("BBB",))
    landing.progress("BBB")
    landing.write("exam", "BBB.csv", exam_rows("BBB"), header=["unit_code", "examinee_id", "status"])
    con = run_pipeline(landing.root, warehouse)
    i = only(con, "unreadable_file")
    assert i["source"] == "exam" and "rank_level" in i["detail"] and "score" in i["detail"]
    assert "BBB" not in exam_units(con)
    assert only(con, "missing_exam_results")["unit_code"] == "BBB"


def test_unreadable_file_ambiguous_version(landing, warehouse):
    landing.good_round(skip=("CCC",))
    landing.progress("CCC")
    landing.progress("CCC", name="CCC.xlsx")
    landing.exam("CCC")
    con = run_pipeline(landing.root, warehouse)
    found = issues(con, "unreadable_file")
    assert sorted(i["file_path"] for i in found) == ["2024-R1/progress/CCC.csv", "2024-R1/progress/CCC.xlsx"]
    assert all("ambiguous version" in i["detail"] for i in found)
    assert "CCC" not in reform_units(con)


def test_unknown_unit_not_registered_and_not_in_scope(landing, warehouse):
    landing.units["DDD"] = "丁办"
    landing.write_registries()  # DDD registered but not in scope
    landing.scope.pop("DDD", None)
    landing.good_round(skip=("DDD",))
    landing.progress("DDD")
    landing.exam("ZZZ", rows=exam_rows("ZZZ"))
    con = run_pipeline(landing.root, warehouse)
    found = {i["unit_code"]: i for i in issues(con, "unknown_unit")}
    assert set(found) == {"DDD", "ZZZ"}
    assert found["ZZZ"]["source"] == "exam" and "units.csv" in found["ZZZ"]["detail"]
    assert found["DDD"]["severity"] == "error" and "scope.csv" in found["DDD"]["detail"]
    assert "DDD" not in reform_units(con) and "ZZZ" not in exam_units(con)


def test_unit_code_mismatch_progress_and_exam(landing, warehouse):
    landing.good_round(skip=("AAA",))
    landing.progress("AAA", unit_code="BBB")
    bad = exam_rows("AAA")
    bad[2]["unit_code"] = "CCC"
    landing.exam("AAA", rows=bad)
    con = run_pipeline(landing.root, warehouse)
    found = {i["source"]: i for i in issues(con, "unit_code_mismatch")}
    assert set(found) == {"progress", "exam"}
    assert "row(s) 3" in found["exam"]["detail"] and "CCC" in found["exam"]["detail"]
    assert "AAA" not in reform_units(con) and "AAA" not in exam_units(con)
    good_units_untouched(con, "BBB", "CCC")


def test_progress_row_count(landing, warehouse):
    landing.good_round(skip=("BBB",))
    landing.write("progress", "BBB.csv", [progress_row("BBB"), progress_row("BBB", one_visit_items=3)])
    landing.exam("BBB")
    con = run_pipeline(landing.root, warehouse)
    i = only(con, "progress_row_count")
    assert i["unit_code"] == "BBB" and "has 2" in i["detail"]
    assert "BBB" not in reform_units(con)
    good_units_untouched(con, "AAA", "CCC")


def test_invalid_value_progress(landing, warehouse):
    landing.good_round(skip=("AAA",))
    landing.progress("AAA", materials_now="12.5", has_handbook="maybe", submitted_at="yesterday")
    landing.exam("AAA")
    con = run_pipeline(landing.root, warehouse)
    found = issues(con, "invalid_value")
    assert {i["unit_code"] for i in found} == {"AAA"}
    text = " ".join(i["detail"] for i in found)
    assert "materials_now is not a whole number" in text and "has_handbook" in text and "submitted_at" in text
    assert "AAA" not in reform_units(con)


def test_invalid_value_exam_score(landing, warehouse):
    landing.good_round(skip=("CCC",))
    landing.progress("CCC")
    bad = exam_rows("CCC")
    bad[1]["score"] = "九十"
    landing.exam("CCC", rows=bad)
    con = run_pipeline(landing.root, warehouse)
    i = only(con, "invalid_value")
    assert i["source"] == "exam" and "CCC002" in i["detail"] and "九十" in i["detail"] and i["row_number"] == 2
    assert exam_units(con)["CCC"]["examinees"] == 4


def test_online_and_one_visit_exceed_total(landing, warehouse):
    landing.good_round(skip=("AAA",))
    landing.progress("AAA", service_items_online=120, one_visit_items=130)
    landing.exam("AAA")
    con = run_pipeline(landing.root, warehouse)
    assert only(con, "online_exceeds_total")["unit_code"] == "AAA"
    assert only(con, "one_visit_exceeds_total")["unit_code"] == "AAA"
    assert "AAA" not in reform_units(con)


def test_materials_and_approval_increase_are_warnings_and_counted(landing, warehouse):
    landing.good_round(skip=("BBB",))
    landing.progress("BBB", materials_now=500, approval_days_now=1200)
    landing.exam("BBB")
    con = run_pipeline(landing.root, warehouse)
    assert only(con, "materials_increased")["severity"] == "warning"
    assert only(con, "approval_days_increased")["severity"] == "warning"
    assert reform_units(con)["BBB"]["materials_reduction_rate"] == 1 - 500 / 400  # negative, not clamped


def test_late_submission(landing, warehouse):
    landing.good_round(skip=("CCC",))
    landing.progress("CCC", submitted_at="2024-07-01T09:00:00+08:00")
    landing.exam("CCC", rows=exam_rows("CCC", submitted_at="2024-07-01T08:00:00"))  # no offset = +08:00
    con = run_pipeline(landing.root, warehouse)
    found = {i["source"]: i for i in issues(con, "late_submission")}
    assert set(found) == {"progress", "exam"} and all(i["severity"] == "warning" for i in found.values())
    assert reform_units(con)["CCC"]["is_late"] is True and exam_units(con)["CCC"]["examinees"] == 5
    assert reform_units(con)["AAA"]["is_late"] is False


def test_missing_submission_only_after_deadline(landing, warehouse, tmp_path):
    landing.good_round(skip=("AAA",))
    landing.exam("AAA")
    con = run_pipeline(landing.root, warehouse, as_of=BEFORE_DEADLINE)
    assert issues(con, "missing_submission") == []
    con.close()
    con = run_pipeline(landing.root, warehouse)
    i = only(con, "missing_submission")
    assert i["unit_code"] == "AAA" and i["file_path"] is None and i["severity"] == "error"
    assert rows(con, "select units_missing from marts.reform_round")[0]["units_missing"] == 1
    # the as-of reaches dbt at run time: a new value does not make dbt re-parse the whole project
    dbt_log = (Settings(warehouse=warehouse).work_dir / "logs" / "dbt.log").read_text(encoding="utf-8")
    assert "Unable to do partial parsing because config vars" not in dbt_log


def test_missing_exam_results_when_only_absent_rows(landing, warehouse):
    landing.good_round(skip=("BBB",))
    landing.progress("BBB")
    landing.exam("BBB", rows=exam_rows("BBB", scores=[0, 0, 0], status="缺考", absence_reason="病假"))
    con = run_pipeline(landing.root, warehouse)
    i = only(con, "missing_exam_results")
    assert i["unit_code"] == "BBB" and i["source"] == "exam" and i["file_path"] is None
    assert rows(con, "select absent from marts.exam_round")[0]["absent"] == 3


def test_score_out_of_range(landing, warehouse):
    landing.good_round(skip=("AAA",))
    landing.progress("AAA")
    landing.exam("AAA", rows=exam_rows("AAA", scores=[95, 85, 70, 100, 105]))
    con = run_pipeline(landing.root, warehouse)
    i = only(con, "score_out_of_range")
    assert "AAA005" in i["detail"] and "105" in i["detail"]
    assert exam_units(con)["AAA"]["examinees"] == 4 and exam_units(con)["AAA"]["avg_score"] == 87.5


def test_missing_score(landing, warehouse):
    landing.good_round(skip=("AAA",))
    landing.progress("AAA")
    bad = exam_rows("AAA")
    bad[0]["score"] = ""
    landing.exam("AAA", rows=bad)
    con = run_pipeline(landing.root, warehouse)
    assert "AAA001" in only(con, "missing_score")["detail"]
    assert exam_units(con)["AAA"]["examinees"] == 4


def test_unknown_rank_level_and_aliases(landing, warehouse):
    landing.good_round(skip=("BBB",))
    landing.progress("BBB")
    bad = exam_rows("BBB")
    bad[0]["rank_level"] = "部级"
    bad[1]["rank_level"] = " Division "
    bad[2]["rank_level"] = "乡科级"
    landing.exam("BBB", rows=bad)
    con = run_pipeline(landing.root, warehouse)
    assert "部级" in only(con, "unknown_rank_level")["detail"]
    assert exam_units(con)["BBB"]["examinees"] == 4
    levels = {r["rank_level"]: r["examinees"] for r in rows(con, "select * from marts.exam_level_round")}
    assert set(levels) == {"厅级", "处级", "科级"}


def test_unknown_status(landing, warehouse):
    landing.good_round(skip=("CCC",))
    landing.progress("CCC")
    bad = exam_rows("CCC")
    bad[3]["status"] = "请假"
    bad[4]["status"] = "ATTENDED"
    landing.exam("CCC", rows=bad)
    con = run_pipeline(landing.root, warehouse)
    assert "请假" in only(con, "unknown_status")["detail"]
    assert exam_units(con)["CCC"]["examinees"] == 4


def test_absent_without_reason_is_counted(landing, warehouse):
    landing.good_round(skip=("AAA",))
    landing.progress("AAA")
    rs = exam_rows("AAA")
    rs[4].update(status="absent", score="", absence_reason="")
    landing.exam("AAA", rows=rs)
    con = run_pipeline(landing.root, warehouse)
    assert only(con, "absent_without_reason")["severity"] == "warning"
    u = exam_units(con)["AAA"]
    assert (u["examinees"], u["absent"]) == (4, 1)


def test_duplicate_examinee_row_keeps_one(landing, warehouse):
    landing.good_round(skip=("BBB",))
    landing.progress("BBB")
    rs = exam_rows("BBB")
    dup = dict(rs[0], score=" 95 ")  # identical after trimming
    landing.exam("BBB", rows=[*rs, dup])
    con = run_pipeline(landing.root, warehouse)
    i = only(con, "duplicate_examinee_row")
    assert i["severity"] == "warning" and "BBB001" in i["detail"]
    assert exam_units(con)["BBB"]["examinees"] == 5


def test_conflicting_examinee_rows_excludes_all(landing, warehouse):
    landing.good_round(skip=("BBB",))
    landing.progress("BBB")
    rs = exam_rows("BBB")
    landing.exam("BBB", rows=[*rs, dict(rs[0], score=40)])
    con = run_pipeline(landing.root, warehouse)
    i = only(con, "conflicting_examinee_rows")
    assert i["severity"] == "error" and "BBB001" in i["detail"]
    assert exam_units(con)["BBB"]["examinees"] == 4


def test_below_min_examinees(landing, warehouse):
    landing.scope["CCC"] = (50, 8)
    landing.write_registries()
    con = run_pipeline(landing.good_round().root, warehouse)
    i = only(con, "below_min_examinees")
    assert i["unit_code"] == "CCC" and i["severity"] == "warning" and "8" in i["detail"]
    assert exam_units(con)["CCC"]["examinees"] == 5


def test_participation_over_headcount(landing, warehouse):
    """A registry slip: scope.csv says CCC has 4 cadres, 5 sat the exam. A warning for the office; the
    figures are counted; the round's participation rate stays a share (NULL only while the round's
    examinees exceed its headcount)."""
    landing.scope["CCC"] = (4, 3)
    landing.write_registries()
    con = run_pipeline(landing.good_round().root, warehouse)
    i = only(con, "participation_over_headcount")
    assert (i["unit_code"], i["severity"], i["file_path"]) == ("CCC", "warning", "2024-R1/exam/CCC.csv")
    assert "2024-R1/scope.csv" in i["detail"] and "cadre_headcount is 4" in i["detail"] and "5 of" in i["detail"]
    assert exam_units(con)["CCC"]["examinees"] == 5
    assert rows(con, "select participation_rate from marts.exam_round") == [{"participation_rate": 15 / 104}]
    con.close()
    landing.scope = {u: (4, 3) for u in landing.scope}  # every unit: the round's 15 examinees exceed its 12
    landing.write_registries()
    con = run_pipeline(landing.root, warehouse)
    assert len(issues(con, "participation_over_headcount")) == 3
    assert rows(con, "select participation_rate from marts.exam_round") == [{"participation_rate": None}]
