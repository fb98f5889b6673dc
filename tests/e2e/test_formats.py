"""The same data as UTF-8, UTF-8 with BOM, GB18030 and XLSX give identical marts."""

from __future__ import annotations

import pytest
from landing_builder import Landing, exam_rows, issues, progress_row, rows, run_pipeline

MARTS = ["reform_unit_round", "reform_round", "exam_unit_round", "exam_level_round", "exam_round"]
VARIANTS = ["utf-8", "utf-8-sig", "gb18030", "xlsx"]


def build(root, variant: str) -> Landing:
    land = Landing(root)
    for u in land.units:
        ex = exam_rows(u, scores=[91.5, 60, 59, 100, 77])
        ex[1]["discipline_note"] = "夹带小抄"
        ex[4].update(status="缺考", score="", absence_reason="病假")
        prog = [progress_row(u, has_handbook="否", service_items_online=50 if u == "BBB" else 80)]
        if variant == "xlsx":
            land.write("progress", f"{u}.xlsx", prog)
            land.write("exam", f"{u}.xlsx", ex)
        else:
            land.write("progress", f"{u}.csv", prog, encoding=variant)
            land.write("exam", f"{u}.csv", ex, encoding=variant)
    return land


def marts(con) -> dict[str, list]:
    return {
        m: rows(con, f"select * exclude (source_file) from marts.{m} order by all")
        if m in ("reform_unit_round", "exam_unit_round")
        else rows(con, f"select * from marts.{m} order by all")
        for m in MARTS
    }


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = {}
    for v in VARIANTS:
        tmp = tmp_path_factory.mktemp(v.replace("-", ""))
        con = run_pipeline(build(tmp / "landing", v).root, tmp / "wh.duckdb")
        out[v] = (marts(con), issues(con))
        con.close()
    return out


@pytest.mark.parametrize("variant", VARIANTS[1:])
def test_same_marts_as_utf8(results, variant):
    assert results[variant][0] == results["utf-8"][0]
    assert results[variant][1] == [] and results["utf-8"][1] == []


def test_utf8_marts_have_the_data(results):
    m = results["utf-8"][0]
    assert len(m["reform_unit_round"]) == 3 and len(m["exam_unit_round"]) == 3
    assert all(u["discipline_incidents"] == 1 and u["absent"] == 1 for u in m["exam_unit_round"])
    assert [u["has_handbook"] for u in m["reform_unit_round"]] == [False] * 3
