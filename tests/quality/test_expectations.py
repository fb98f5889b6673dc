"""Great Expectations suites: pass on the bundled round, fail on a deliberately broken value, never pass
on no data; a failing marts suite fails the run and publishes nothing."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading

import duckdb
import pytest
from landing_builder import rows, run_pipeline, warehouse_snapshot

from reformwatch import quality
from reformwatch.config import SAMPLE_LANDING, Settings
from reformwatch.pipeline import QualityGateError, parse_as_of, run
from reformwatch.quality import ChecksError, _batch_sql, load_suites, run_checkpoint
from reformwatch.quality_worker import CheckpointWorker

MARTS_AND_DQ = ["marts.exam_round", "marts.exam_unit_round", "marts.reform_round", "dq.issues"]

BREAKS = {
    "raw_exam_rows": "update raw.exam_rows set rank_level = '部级' where row_number = 1",
    "raw_progress_returns": "update raw.progress_rows set service_items_total = 'many'",
    "marts_reform_unit_round": "update marts.reform_unit_round set negative_cases = -1 where unit_code = 'AIC'",
    "marts_reform_round": "update marts.reform_round set problem_clues_total = problem_clues_total + 1",
    "marts_exam_unit_round": "update marts.exam_unit_round set fail_count = fail_count + 1 where unit_code = 'AIC'",
    "marts_exam_level_round": "update marts.exam_level_round set examinees = examinees + 1 where rank_level = '厅级'",
    "marts_exam_round": "update marts.exam_round set participation_rate = participation_rate + 0.01",
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    wh = tmp_path_factory.mktemp("gx") / "warehouse.duckdb"
    run_pipeline(SAMPLE_LANDING, wh).close()
    return Settings(landing=SAMPLE_LANDING, warehouse=wh)


def test_suites_are_files_one_per_layer_and_each_has_a_break():
    suites = load_suites()
    assert {s.layer for s in suites} == {"raw", "marts"}
    assert {s.name for s in suites} == set(BREAKS)


def test_every_suite_passes_on_the_bundled_round_and_saw_the_rows(sample):
    con = duckdb.connect(str(sample.warehouse), read_only=True)
    results = rows(con, "select * from dq.expectation_results")
    assert {r["suite"] for r in results} == set(BREAKS)
    assert [r for r in results if not r["success"]] == []
    counted = [r for r in results if r["element_count"] is not None]
    assert counted and all(r["element_count"] > 0 for r in counted)
    assert rows(con, "select * from dq.issues where source = 'expectations'") == []
    assert (sample.data_docs_dir / "index.html").is_file()


@pytest.mark.parametrize("suite_name", sorted(BREAKS))
def test_each_suite_fails_on_a_broken_value(sample, tmp_path, suite_name):
    db = tmp_path / "broken.duckdb"
    shutil.copy(sample.work_db, db)
    con = duckdb.connect(str(db))
    con.execute(BREAKS[suite_name])
    con.close()
    suite = [s for s in load_suites() if s.name == suite_name]
    result = run_checkpoint(db, tmp_path / "gx", tmp_path / "docs", suites=suite)
    assert result.failed, f"{suite_name} did not notice the broken value"
    assert all(r["suite"] == suite_name for r in result.failed)


def test_raw_suites_validate_a_repeatable_capped_sample_of_a_huge_round(sample):
    suite = next(s for s in load_suites() if s.name == "raw_exam_rows")
    con = duckdb.connect(str(sample.work_db), read_only=True)
    try:
        round_id = con.execute("select round_id from staging.stg_landing__rounds").fetchone()[0]
        whole = con.execute(_batch_sql(con, suite, round_id, 10**9), [round_id]).fetchall()
        first = con.execute(_batch_sql(con, suite, round_id, 100), [round_id]).fetchall()
        again = con.execute(_batch_sql(con, suite, round_id, 100), [round_id]).fetchall()
        total = con.execute(f"select count(*) from ({suite.query}) q where round_id = ?", [round_id]).fetchone()[0]
    finally:
        con.close()
    assert len(whole) == total > 500  # every row of the round when under the cap
    assert 0 < len(first) <= 100 and first == again
    assert set(first) < set(whole)


def _comparable(result):
    return sorted((tuple((k, v) for k, v in r.items() if k != "checked_at") for r in result.rows), key=repr)


def test_checks_in_the_worker_equal_the_checks_in_this_process(sample, tmp_path):
    here = run_checkpoint(sample.work_db, tmp_path / "gx1", tmp_path / "docs1")
    with CheckpointWorker() as worker:
        there = worker.run(sample.work_db, tmp_path / "gx2", tmp_path / "docs2")
    assert here.rows and _comparable(there) == _comparable(here)
    assert (tmp_path / "docs2" / "index.html").is_file()


def test_a_dead_checks_worker_fails_with_its_reason(sample, tmp_path):
    command = [sys.executable, "-c", "import sys; sys.stderr.write('MemoryError: out of memory'); sys.exit(3)"]
    with pytest.raises(ChecksError, match="worker exit 3: MemoryError: out of memory"), CheckpointWorker(command) as w:
        w.run(sample.work_db, tmp_path / "gx", tmp_path / "docs")


@pytest.mark.slow
def test_a_run_whose_checks_worker_dies_publishes_nothing(tmp_path):
    """The checks are a phase of the refresh: their worker's death fails the run (exit 1, one line on
    stderr) and the published marts and issues stay as they were."""
    import subprocess

    exe = os.path.join(os.path.dirname(sys.executable), "reformwatch")
    wh = tmp_path / "warehouse.duckdb"
    first = subprocess.run([exe, "run", "--warehouse", str(wh)], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    before = warehouse_snapshot(wh)
    landing = tmp_path / "landing"
    shutil.copytree(SAMPLE_LANDING, landing)
    (landing / "2018-R1" / "progress" / "AIC__v2.csv").write_bytes(
        (SAMPLE_LANDING / "2018-R1" / "progress" / "AIC.csv").read_bytes()
    )
    crash = tmp_path / "crash"
    crash.mkdir()  # Python's sitecustomize hook, on the worker's path, kills the checks worker at start-up
    (crash / "sitecustomize.py").write_text(
        "import os, sys\nif 'reformwatch.quality_worker' in sys.orig_argv:\n"
        "    sys.stderr.write('RuntimeError: checks worker crashed'); os._exit(9)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(crash)}
    out = subprocess.run(
        [exe, "run", "--landing", str(landing), "--warehouse", str(wh)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode == 1 and "checks worker crashed" in out.stderr and "Traceback" not in out.stderr
    assert warehouse_snapshot(wh) == before  # the figures and issues stay; the failure is in ops.pipeline_runs


@pytest.mark.slow
def test_a_run_uses_the_checks_worker_its_caller_started(tmp_path, monkeypatch):
    """run(checks=...) validates in the caller's worker (none is started inside); a worker a run with
    nothing new never asks stops when its block is left."""
    from reformwatch import pipeline

    def no_other_worker(*args, **kwargs):
        raise AssertionError("the run started a checks worker of its own")

    monkeypatch.setattr(pipeline, "CheckpointWorker", no_other_worker)
    settings = Settings(landing=SAMPLE_LANDING, warehouse=tmp_path / "warehouse.duckdb")
    with CheckpointWorker() as worker:
        built = run(settings, parse_as_of("2030-01-01"), say=lambda _m: None, checks=worker)
    assert built.rebuilt and worker._proc.returncode == 0
    assert (settings.data_docs_dir / "index.html").is_file()
    with CheckpointWorker() as unasked:  # an assertion error below stops (kills) the child
        again = run(settings, parse_as_of("2030-01-01"), say=lambda _m: None, checks=unasked)
        stopping = threading.Thread(target=unasked.finish, daemon=True)
        stopping.start()
        stopping.join(60)
        assert not stopping.is_alive(), "a checks worker never asked did not stop"
    assert not again.rebuilt and unasked._proc.returncode == 0


def test_data_docs_show_the_latest_checkpoint(sample, tmp_path):
    """Data Docs are built afresh by each checkpoint: one validation page per (suite, round), the latest,
    and the index links only that one."""
    gx_dir, docs = tmp_path / "gx", tmp_path / "docs"
    suites = [s for s in load_suites() if s.name == "marts_reform_round"]
    pages = docs / "validations" / "marts_reform_round"
    seen: list[str] = []
    for _ in range(2):
        run_checkpoint(sample.work_db, gx_dir, docs, suites=suites)
        kept = [p.parent.name for p in pages.rglob("*.html")]
        assert len(kept) == 1 and kept[0] not in seen  # this run's page, not an earlier one
        seen += kept
        linked = set(
            re.findall(r"validations/marts_reform_round/[^/]+/([0-9T.]+Z)/", (docs / "index.html").read_text())
        )
        assert linked == set(kept)


def test_a_check_that_sees_no_data_is_not_applicable_never_passed_or_failed(sample, tmp_path):
    """A per-unit mart without rows for a round (no exam sheet yet) is what the contract says: its
    expectations are recorded as not applicable, shown so in Data Docs, and fail nothing."""
    db = tmp_path / "empty.duckdb"
    shutil.copy(sample.work_db, db)
    con = duckdb.connect(str(db))
    con.execute("delete from marts.exam_unit_round")
    con.close()
    suite = [s for s in load_suites() if s.name == "marts_exam_unit_round"]
    result = run_checkpoint(db, tmp_path / "gx", tmp_path / "docs", suites=suite)
    assert len(result.rows) == len(suite[0].expectations)
    assert all(not r["applicable"] and r["observed_value"] == quality.NOT_APPLICABLE for r in result.rows)
    assert result.run_failures == []
    index = (tmp_path / "docs" / "index.html").read_text(encoding="utf-8")
    assert "2018-R1 (no rows: not applicable)" in index


def test_a_check_that_sees_rows_is_applicable(sample, tmp_path):
    suite = [s for s in load_suites() if s.name == "marts_exam_unit_round"]
    result = run_checkpoint(sample.work_db, tmp_path / "gx", tmp_path / "docs", suites=suite)
    assert result.rows and all(r["applicable"] and r["success"] for r in result.rows)
    assert "(no rows: not applicable)" not in (tmp_path / "docs" / "index.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_failing_marts_suite_fails_the_run_and_publishes_nothing(tmp_path, monkeypatch):
    wh = tmp_path / "warehouse.duckdb"
    con = run_pipeline(SAMPLE_LANDING, wh, as_of="2018-09-01")
    before = {t: rows(con, f"select * from {t} order by all") for t in MARTS_AND_DQ}
    con.close()
    strict = tmp_path / "expectations"
    strict.mkdir()
    for f in (SAMPLE_LANDING.parents[2] / "expectations").glob("*.json"):
        shutil.copy(f, strict)
    doc = json.loads((strict / "marts_exam_round.json").read_text())
    doc["expectations"].append(
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "avg_score", "min_value": 95}}
    )
    (strict / "marts_exam_round.json").write_text(json.dumps(doc))
    monkeypatch.setattr("reformwatch.quality.EXPECTATIONS_DIR", strict)
    with pytest.raises(QualityGateError, match="avg_score"):  # the deadline has passed since: a rebuild
        run(Settings(landing=SAMPLE_LANDING, warehouse=wh), parse_as_of("2018-10-15"), say=lambda _m: None)
    assert not list(tmp_path.glob("*.publishing*"))  # the file staged while the checks ran is removed
    con = duckdb.connect(str(wh), read_only=True)  # the previous figures stay published; the failure is recorded
    assert {t: rows(con, f"select * from {t} order by all") for t in MARTS_AND_DQ} == before
    assert rows(con, "select status from ops.pipeline_runs order by started_at") == [
        {"status": "succeeded"},
        {"status": "failed"},
    ]
    con.close()
    con = duckdb.connect(str(Settings(warehouse=wh).work_db), read_only=True)
    assert rows(con, "select count(*) as n from dq.issues where check_name = 'marts_expectation_failed'")[0]["n"] == 1


def test_each_invariant_is_declared_once():
    """A key, not-null column or range that a dbt data test declares on a mart is not declared again as a
    Great Expectations expectation on the same column."""
    import yaml

    from reformwatch.config import DBT_PROJECT_DIR

    declared: set[tuple[str, str, str | None]] = set()  # (model, kind of invariant, column)
    models = yaml.safe_load((DBT_PROJECT_DIR / "models" / "marts" / "_marts__models.yml").read_text())["models"]
    for model in models:
        for test in model.get("data_tests") or []:
            if isinstance(test, dict) and "unique_combination" in test:
                declared.add((model["name"], "key", None))
        for column in model.get("columns") or []:
            for test in column.get("data_tests") or []:
                name = test if isinstance(test, str) else next(iter(test))
                kind = {"unique": "key", "not_null": "not_null", "in_range": "range"}.get(name)
                if kind:
                    declared.add((model["name"], kind, column["name"]))
    kinds = {
        "expect_compound_columns_to_be_unique": "key",
        "expect_column_values_to_be_unique": "key",
        "expect_column_values_to_not_be_null": "not_null",
        "expect_column_values_to_be_between": "range",
    }
    twice = []
    for suite in load_suites():
        if suite.layer != "marts":
            continue
        model = suite.name.removeprefix("marts_")
        for e in suite.expectations:
            kind, column = kinds.get(e["type"]), e["kwargs"].get("column")
            if kind and ((model, kind, column) in declared or (kind == "key" and (model, "key", None) in declared)):
                twice.append((suite.name, e["type"], column))
    assert twice == []
