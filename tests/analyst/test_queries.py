"""The worked queries in queries/ (documented in docs/queries.md) answer the bulletin's questions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from landing_builder import rows, run_pipeline

from reformwatch.config import PROJECT_ROOT, SAMPLE_LANDING

QUERIES = PROJECT_ROOT / "queries"


def q(con, name: str) -> list[dict]:
    return rows(con, (QUERIES / f"{name}.sql").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def one_round(tmp_path_factory):
    con = run_pipeline(SAMPLE_LANDING, tmp_path_factory.mktemp("q1") / "w.duckdb")
    yield con
    con.close()


@pytest.fixture(scope="module")
def two_rounds(tmp_path_factory):
    """The bundled round and a second one: same files, except AIC's return and HRSS's scores changed."""
    root = tmp_path_factory.mktemp("q2")
    land = root / "landing"
    shutil.copytree(SAMPLE_LANDING, land)
    shutil.copytree(land / "2018-R1", land / "2018-R2")
    with open(land / "rounds.csv", "a", encoding="utf-8") as f:
        f.write("2018-R2,第二批督导考试,2018-12-15T18:00:00+08:00,45,100,30,60,90\n")
    aic = land / "2018-R2" / "progress" / "AIC.csv"
    aic.write_text(aic.read_text(encoding="utf-8").replace(",110,110,12,", ",110,110,15,"), encoding="utf-8")
    hrss = land / "2018-R2" / "exam" / "HRSS.csv"
    lines = hrss.read_text(encoding="utf-8").splitlines()
    head, body = lines[0], [ln.split(",") for ln in lines[1:]]
    for cells in body:
        if cells[3] == "参考":
            cells[5] = str(min(100, float(cells[5]) + 5))
    hrss.write_text("\n".join([head] + [",".join(c) for c in body]) + "\n", encoding="utf-8")
    con = run_pipeline(land, root / "w.duckdb", as_of="2019-01-01")
    yield con
    con.close()


def test_every_query_is_documented():
    doc = (PROJECT_ROOT / "docs" / "queries.md").read_text(encoding="utf-8")
    files = sorted(QUERIES.glob("*.sql"))
    assert len(files) >= 6
    for f in files:
        assert f"queries/{f.name}" in doc, f.name


def test_unit_ranking(one_round):
    got = q(one_round, "unit_ranking")
    assert len(got) == 18
    assert [r["unit_name"] for r in got[:3]] == ["龙江银行", "省食药监局", "省国土厅"]
    assert got[-1]["unit_name"] == "省法院" and got[-1]["avg_score"] == 73.9


def test_units_below_half_online(one_round):
    got = q(one_round, "units_below_half_online")
    assert {"省旅游委", "省煤管局"} <= {r["unit_name"] for r in got}
    assert all(r["online_pct"] < 50 for r in got)


def test_late_units_per_round(one_round):
    got = q(one_round, "late_units_per_round")
    assert [(r["unit_name"], r["source"]) for r in got] == [("省旅游委", "progress"), ("省煤管局", "progress")]
    assert got[0]["file_path"] == "2018-R1/progress/TOURISM.csv" and got[0]["submitted_shanghai"] == "2018-09-17 10:20"


def test_figure_lineage(one_round):
    got = q(one_round, "figure_lineage")
    assert len(got) == 1
    assert (got[0]["one_visit_items"], got[0]["file_path"], got[0]["version"]) == (26, "2018-R1/progress/HRSS.csv", 1)
    assert len(got[0]["sha256"]) == 64


def test_lineage_of_a_resubmitted_unit(one_round):
    got = rows(
        one_round,
        "select file_path, version from marts.unit_round_sources where unit_name = '省住建厅' and source = 'progress'",
    )
    assert got == [{"file_path": "2018-R1/progress/HOUSING__v2.csv", "version": 2}]


def test_single_round_has_no_change(one_round):
    assert q(one_round, "round_over_round_change") == []
    assert q(one_round, "unchanged_progress") == []


def test_round_over_round_change(two_rounds):
    got = {r["unit_name"]: r for r in q(two_rounds, "round_over_round_change")}
    assert len(got) == 18 and all(r["previous_round"] == "2018-R1" for r in got.values())
    assert got["省人社厅"]["avg_score_change"] > 0
    assert got["龙江银行"]["avg_score_change"] == 0


def test_unchanged_progress(two_rounds):
    got = q(two_rounds, "unchanged_progress")
    assert len(got) == 17 and "省工商局" not in {r["unit_name"] for r in got}
    assert all(r["round_id"] == "2018-R2" and r["previous_round"] == "2018-R1" for r in got)


def test_queries_dir_is_plain_sql():
    for f in QUERIES.glob("*.sql"):
        text = Path(f).read_text(encoding="utf-8")
        assert text.startswith("-- ") and text.rstrip().endswith(";")
