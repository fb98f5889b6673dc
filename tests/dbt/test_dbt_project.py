"""dbt's own tests (unit_tests in the _*__models.yml files) and the data dictionary's completeness."""

from __future__ import annotations

import json

import duckdb
import pytest
from landing_builder import rows, run_pipeline

from reformwatch.config import SAMPLE_LANDING, Settings
from reformwatch.dbt_runner import DbtError, run_dbt


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    wh = tmp_path_factory.mktemp("dbt") / "warehouse.duckdb"
    con = run_pipeline(SAMPLE_LANDING, wh)
    yield Settings(landing=SAMPLE_LANDING, warehouse=wh), con
    con.close()


def test_data_tests_of_incremental_models_check_the_rows_the_build_added(built):
    """The row-level tests of the incremental models filter on the running build's invocation id.

    The first build wrote its id on every row; a second dbt invocation (partial parsing keeps the
    parsed project) must filter on its own id, not on the id of the build that parsed the project.
    """
    settings, con = built
    work = duckdb.connect(str(settings.work_db), read_only=True)
    try:
        ids = work.execute("select distinct dbt_invocation_id from intermediate.int_exam__file_rows").fetchall()
    finally:
        work.close()
    assert len(ids) == 1
    target = settings.work_dir / "dbt_target"

    def compiled_filter() -> tuple[str, str]:
        results = json.loads((target / "run_results.json").read_text())
        sql = [
            r["compiled_code"]
            for r in results["results"]
            if r["unique_id"].startswith("test.reformwatch.unique_combination_int_exam__file_rows_")
        ]
        assert len(sql) == 1
        return results["metadata"]["invocation_id"], sql[0]

    first, sql = compiled_filter()
    assert first == ids[0][0] and f"where dbt_invocation_id = '{first}'" in sql
    run_dbt(["test", "--select", "int_exam__file_rows"], settings.work_db, settings.work_dir)
    second, sql = compiled_filter()
    assert second != first and f"where dbt_invocation_id = '{second}'" in sql


def test_dbt_unit_tests_pass(built):
    settings, _ = built
    res = run_dbt(["test", "--select", "test_type:unit"], settings.work_db, settings.work_dir)
    assert res.nodes >= 6 and res.failures == []


def test_a_wrong_definition_fails_the_unit_tests(built, tmp_path, monkeypatch):
    """The unit tests can fail: a copy of the project with pass = score > pass_mark is caught."""
    import shutil

    from reformwatch import dbt_runner

    settings, _ = built
    project = tmp_path / "dbt_project"
    shutil.copytree(dbt_runner.DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "intermediate" / "int_exam__file_stats.sql"
    assert "score >= pass_mark" in model.read_text()
    model.write_text(model.read_text().replace("score >= pass_mark", "score > pass_mark"))
    monkeypatch.setattr(dbt_runner, "DBT_PROJECT_DIR", project)
    with pytest.raises(DbtError, match="exam_sheet_stats_thresholds"):
        run_dbt(["test", "--select", "test_type:unit"], settings.work_db, tmp_path / "work")


def test_every_mart_and_dq_column_is_described(built):
    settings, con = built
    manifest = json.loads((settings.work_dir / "dbt_target" / "manifest.json").read_text())
    models = {
        n["name"]: n
        for n in manifest["nodes"].values()
        if n["resource_type"] in ("model", "seed") and n["schema"] in ("marts", "dq")
    }
    assert {
        "reform_unit_round",
        "reform_round",
        "exam_unit_round",
        "exam_level_round",
        "exam_round",
        "issues",
        "checks",
    } <= set(models)
    for name, node in models.items():
        assert node["description"].strip(), f"{name} has no description"
        actual = [
            r["column_name"]
            for r in rows(
                con,
                "select column_name from duckdb_columns() where schema_name = ? and table_name = ?",
                [node["schema"], name],
            )
        ]
        assert actual, name
        for col in actual:
            assert col in node["columns"] and node["columns"][col]["description"].strip(), f"{name}.{col}"
