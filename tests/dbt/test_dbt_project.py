"""dbt's own tests (unit_tests in the _*__models.yml files) and the data dictionary's completeness."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from landing_builder import rows, run_pipeline

from reformwatch.config import DBT_PROJECT_DIR, SAMPLE_LANDING, Settings
from reformwatch.dbt_runner import DbtError
from reformwatch.dbt_worker import DbtWorker, run_dbt


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    wh = tmp_path_factory.mktemp("dbt") / "warehouse.duckdb"
    con = run_pipeline(SAMPLE_LANDING, wh)
    settings = Settings(landing=SAMPLE_LANDING, warehouse=wh)
    run_dbt(["parse"], settings.work_db, settings.work_dir)  # the pipeline writes no manifest.json
    yield settings, con
    con.close()


def test_data_tests_of_incremental_models_check_the_rows_the_build_added(built):
    """The row-level tests of the incremental models filter on the running build's invocation id.

    The pipeline's build wrote its id on every row; each later dbt invocation (partial parsing keeps
    the parsed project) must filter on its own id, not on the id of the invocation that parsed it.
    """
    settings, con = built
    work = duckdb.connect(str(settings.work_db), read_only=True)
    try:
        ids = work.execute("select distinct dbt_invocation_id from intermediate.int_exam__file_stats").fetchall()
    finally:
        work.close()
    assert len(ids) == 1
    target = settings.work_dir / "dbt_target"

    def compiled_filter() -> tuple[str, str]:
        results = json.loads((target / "run_results.json").read_text())
        sql = [
            r["compiled_code"]
            for r in results["results"]
            if r["unique_id"].startswith("test.reformwatch.unique_combination_int_exam__file_stats_")
        ]
        assert len(sql) == 1
        return results["metadata"]["invocation_id"], sql[0]

    run_dbt(["test", "--select", "int_exam__file_stats"], settings.work_db, settings.work_dir)
    first, sql = compiled_filter()
    assert first != ids[0][0] and f"where dbt_invocation_id = '{first}'" in sql
    run_dbt(["test", "--select", "int_exam__file_stats"], settings.work_db, settings.work_dir)
    second, sql = compiled_filter()
    assert second != first and f"where dbt_invocation_id = '{second}'" in sql


def test_the_worker_says_each_node_as_it_finishes(built):
    """The worker parses ahead and runs with that manifest; the parent hears of each node as it finishes."""
    settings, _ = built
    said: list[tuple[int, int]] = []  # (nodes finished, nodes selected), as they finish
    with DbtWorker(settings.work_db, settings.work_dir) as worker:
        res = worker.run(
            ["test", "--select", "int_exam__file_stats stg_landing__files"], progress=lambda *p: said.append(p)
        )
    assert res.nodes >= 3 and res.failures == []
    assert said == [(i, res.nodes) for i in range(1, res.nodes + 1)]


def test_a_dead_worker_fails_with_its_reason(built):
    settings, _ = built
    command = [sys.executable, "-c", "import sys; sys.stderr.write('MemoryError: out of memory'); sys.exit(3)"]
    with (
        DbtWorker(settings.work_db, settings.work_dir, command) as worker,
        pytest.raises(DbtError, match="dbt worker failed .exit 3: MemoryError: out of memory"),
    ):
        worker.run(["test", "--select", "exam_round"])


def test_a_worker_whose_parent_died_stops(built, tmp_path):
    """A killed run leaves no dbt process holding the work database: the worker notices that its parent
    has gone and kills itself."""
    settings, _ = built
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', 'reformwatch.dbt_worker', "
            f"{str(settings.work_db)!r}, {str(tmp_path / 'work')!r}], stdin=subprocess.PIPE, "
            f"cwd={str(settings.work_db.parent)!r}); "
            "print(p.pid, flush=True); import time; time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    child = int(parent.stdout.readline())
    time.sleep(3)
    assert _alive(child), "the worker should run while its parent does"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(child):
        time.sleep(0.2)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_failing_node_in_the_worker_is_named_in_the_error(built, tmp_path):
    settings, _ = built
    db = tmp_path / "work.duckdb"
    shutil.copy(settings.work_db, db)
    con = duckdb.connect(str(db))
    con.execute("insert into marts.exam_round select * from marts.exam_round")
    con.close()
    with DbtWorker(db, tmp_path / "work") as worker, pytest.raises(DbtError, match="unique_exam_round_round_id"):
        worker.run(["test", "--select", "exam_round"])


def test_a_run_with_nothing_to_build_stops_the_worker(built, tmp_path):
    settings, _ = built
    with DbtWorker(settings.work_db, tmp_path / "work") as worker:
        proc = worker._proc
    assert proc.poll() is not None


def test_dbt_unit_tests_pass(built):
    settings, _ = built
    res = run_dbt(["test", "--select", "test_type:unit"], settings.work_db, settings.work_dir)
    assert res.nodes >= 6 and res.failures == []


def test_a_wrong_definition_fails_the_unit_tests(built, tmp_path):
    """The unit tests can fail: a copy of the project with pass = score > pass_mark is caught (the `dbt`
    command on the copy)."""
    settings, _ = built
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    model = project / "models" / "intermediate" / "int_exam__file_stats.sql"
    assert "score >= pass_mark" in model.read_text()
    model.write_text(model.read_text().replace("score >= pass_mark", "score > pass_mark"))
    out = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "test",
            "--select",
            "test_type:unit",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "REFORMWATCH_WORK_DB": str(settings.work_db), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    assert out.returncode == 1 and "exam_sheet_stats_thresholds" in out.stdout


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
