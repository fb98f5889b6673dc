"""A landing zone with a deliberately broken file of every kind still produces the marts for every
good unit, and each problem is one clear dq.issues row."""

from __future__ import annotations

from landing_builder import Landing, exam_rows, progress_row, rows, run_pipeline


def test_every_kind_of_broken_file(tmp_path):
    units = {f"U{i}": f"单位{i}" for i in range(1, 9)}
    land = Landing(tmp_path / "landing", units=units)
    land.good_round()
    land.write_bytes("progress", "U1.csv", bytes(range(256)) * 4)  # garbage bytes
    land.write("exam", "U2.csv", exam_rows("U2"), header=["unit_code", "examinee_id", "score"])  # missing columns
    land.progress("U3", unit_code="U4")  # wrong unit code
    land.write("progress", "U4.csv", [progress_row("U4"), progress_row("U4")])  # two rows
    scores = exam_rows("U5")
    scores[0]["score"], scores[1]["score"] = 105, "九十"  # out of range, not a number
    land.exam("U5", rows=scores)
    ranks = exam_rows("U6")
    ranks[2]["rank_level"] = "副处级"  # unknown rank level
    land.exam("U6", rows=ranks)
    con = run_pipeline(land.root, tmp_path / "wh.duckdb")

    got = sorted(
        (i["unit_code"], i["source"], i["check_name"])
        for i in rows(con, "select * from dq.issues where source != 'expectations'")
    )
    assert got == sorted(
        [
            ("U1", "progress", "unreadable_file"),
            ("U1", "progress", "missing_submission"),
            ("U2", "exam", "unreadable_file"),
            ("U2", "exam", "missing_exam_results"),
            ("U3", "progress", "unit_code_mismatch"),
            ("U3", "progress", "missing_submission"),
            ("U4", "progress", "progress_row_count"),
            ("U4", "progress", "missing_submission"),
            ("U5", "exam", "score_out_of_range"),
            ("U5", "exam", "invalid_value"),
            ("U6", "exam", "unknown_rank_level"),
        ]
    )
    # the raw Great Expectations suite notices the unusual submissions too, as warnings only
    gx = rows(con, "select distinct check_name, severity from dq.issues where source = 'expectations'")
    assert gx == [{"check_name": "raw_expectation_failed", "severity": "warning"}]
    for i in rows(con, "select * from dq.issues where file_path is not null"):
        assert i["file_path"] in i["detail"]
    reform = {r["unit_code"] for r in rows(con, "select unit_code from marts.reform_unit_round")}
    exam = {r["unit_code"]: r["examinees"] for r in rows(con, "select * from marts.exam_unit_round")}
    assert reform == set(units) - {"U1", "U3", "U4"}
    assert set(exam) == set(units) - {"U2"}
    assert exam["U5"] == 3 and exam["U6"] == 4 and exam["U7"] == 5
