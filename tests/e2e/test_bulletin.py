"""The whole pipeline on the bundled round reproduces every figure printed in bulletin No. 36.

The expected figures come from the project's copy of the bulletin's published figures
(tests/fixtures/bulletin36_published.json); nothing here is typed in by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from landing_builder import rows, run_pipeline

from reformwatch.config import SAMPLE_LANDING

PUBLISHED = json.loads((Path(__file__).parents[1] / "fixtures" / "bulletin36_published.json").read_text())


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    wh = tmp_path_factory.mktemp("bulletin") / "warehouse.duckdb"
    c = run_pipeline(SAMPLE_LANDING, wh, as_of="2018-10-15T00:00:00+08:00")
    yield c
    c.close()


def one(con, table):
    return rows(con, f"select * from marts.{table}")[0]


def pct(x):
    return round(x * 100, 1)


@pytest.mark.parametrize(
    "key", ["examinees", "absent", "units", "units_with_failures", "units_with_discipline_incidents"]
)
def test_exam_round_counts(con, key):
    assert one(con, "exam_round")[key] == PUBLISHED["exam_round"][key]


@pytest.mark.parametrize("key", ["pass_rate", "excellent_rate", "full_score_rate", "participation_rate"])
def test_exam_round_rates(con, key):
    assert pct(one(con, "exam_round")[key]) == PUBLISHED["exam_round"][key + "_pct"]


@pytest.mark.parametrize("key", ["avg_score", "unit_avg_spread"])
def test_exam_round_averages(con, key):
    assert round(one(con, "exam_round")[key], 1) == PUBLISHED["exam_round"][key]


def test_exam_levels(con):
    got = {
        r["rank_level"]: [r["examinees"], round(r["avg_score"], 1)]
        for r in rows(con, "select * from marts.exam_level_round")
    }
    assert got == {k: [v["examinees"], v["avg_score"]] for k, v in PUBLISHED["exam_level_round"].items()}
    levels = {r["rank_level"]: r for r in rows(con, "select * from marts.exam_level_round")}
    assert levels["处级"]["pass_rate"] < levels["科级"]["pass_rate"]  # as the bulletin remarks


def test_top_and_bottom_units(con):
    units = rows(con, "select * from marts.exam_unit_round order by rank_in_round, unit_code")
    fmt = [[u["unit_code"], round(u["avg_score"], 1), pct(u["excellent_rate"])] for u in units]
    assert fmt[:3] == PUBLISHED["exam_unit_top3"]
    assert fmt[::-1][:3] == PUBLISHED["exam_unit_bottom3"]
    assert [u["rank_in_round"] for u in units[:3]] == [1, 2, 3]


def test_unit_lists(con):
    units = rows(con, "select * from marts.exam_unit_round")
    assert sorted(u["unit_code"] for u in units if u["full_score_count"] > 10) == PUBLISHED["units_over_10_full_scores"]
    assert sorted(u["unit_code"] for u in units if u["fail_count"] > 0) == PUBLISHED["units_with_failures"]
    online = rows(con, "select unit_code, online_rate from marts.reform_unit_round")
    assert sorted(u["unit_code"] for u in online if u["online_rate"] == 1) == PUBLISHED["online_full_units"]
    assert set(PUBLISHED["online_below_half_include"]) <= {u["unit_code"] for u in online if u["online_rate"] < 0.5}


@pytest.mark.parametrize("key", sorted(PUBLISHED["reform_round"]))
def test_reform_round(con, key):
    got, want = one(con, "reform_round"), PUBLISHED["reform_round"][key]
    if key.endswith("_pct"):
        assert pct(got[key[:-4]]) == want
    elif isinstance(want, float):
        assert round(got[key], 1) == want
    else:
        assert got[key] == want


def test_data_quality_events(con):
    have = {
        tuple(r.values()) for r in rows(con, "select round_id, unit_code, source, check_name, severity from dq.issues")
    }
    for expected in PUBLISHED["dq_expected"]:
        assert tuple(expected) in have
    errors = rows(con, "select * from dq.issues where severity = 'error'")
    assert [(e["unit_code"], e["file_path"]) for e in errors] == [("HOUSING", "2018-R1/progress/HOUSING.csv")]
    housing = rows(con, "select version, source_file from marts.reform_unit_round where unit_code = 'HOUSING'")[0]
    assert housing == {"version": 2, "source_file": "2018-R1/progress/HOUSING__v2.csv"}


def test_contract_types(con):
    types = dict(
        (f"{r['table_name']}.{r['column_name']}", r["data_type"])
        for r in rows(
            con, "select table_name, column_name, data_type from duckdb_columns() where schema_name = 'marts'"
        )
    )
    assert types["reform_unit_round.is_late"] == "BOOLEAN"
    assert types["reform_unit_round.has_duty_list"] == "BOOLEAN"
    assert types["reform_unit_round.submitted_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["reform_unit_round.version"] in ("INTEGER", "BIGINT")
    assert types["exam_unit_round.rank_in_round"] in ("INTEGER", "BIGINT")
    for col in ["online_rate", "materials_reduction_rate", "approval_time_compression_rate"]:
        assert types[f"reform_unit_round.{col}"] == "DOUBLE"
    for col in ["avg_score", "pass_rate", "participation_rate", "unit_avg_spread"]:
        assert types[f"exam_round.{col}"] == "DOUBLE"
