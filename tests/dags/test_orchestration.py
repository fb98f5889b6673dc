"""The functions the DAG tasks call, and the failure callback, without Airflow."""

from __future__ import annotations

from types import SimpleNamespace

from landing_builder import AFTER_DEADLINE, Landing

from reformwatch import notify
from reformwatch.config import Settings
from reformwatch.orchestration import build_step, ingest_step, round_attention

CALLS: list[str] = []


def record(line, context):  # a notifier, loaded by name through REFORMWATCH_NOTIFIERS
    CALLS.append(line)


def test_ingest_then_build_steps(tmp_path):
    land = Landing(tmp_path / "landing").good_round(skip=("AAA",))
    settings = Settings(landing=land.root, warehouse=tmp_path / "w.duckdb")
    first = ingest_step(settings, AFTER_DEADLINE)
    assert first["needs_build"] and first["files_loaded"] == 4 and first["changed_rounds"] == ["2024-R1"]
    out = build_step(settings, AFTER_DEADLINE)
    assert out["examinees"] == 10 and out["issues"] == {"error": 2}
    assert round_attention(settings) == ["2024-R1: missing exam results: AAA", "2024-R1: missing submission: AAA"]
    assert ingest_step(settings, AFTER_DEADLINE)["needs_build"] is False


def test_deadline_passing_alone_triggers_a_rebuild(tmp_path):
    land = Landing(tmp_path / "landing").good_round(skip=("AAA",))
    settings = Settings(landing=land.root, warehouse=tmp_path / "w.duckdb")
    ingest_step(settings, "2024-06-01T00:00:00+08:00")
    build_step(settings, "2024-06-01T00:00:00+08:00")
    assert round_attention(settings) == []
    assert ingest_step(settings, AFTER_DEADLINE)["needs_build"] is True  # no new file, but the deadline passed
    build_step(settings, AFTER_DEADLINE)
    assert "missing submission: AAA" in " ".join(round_attention(settings))


def test_failure_callback_writes_one_line_and_calls_notifiers(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("REFORMWATCH_NOTIFIERS", f"{__name__}:record,nonexistent.module:fn")
    ti = SimpleNamespace(dag_id="reformwatch_build", task_id="build", run_id="manual__1")
    notify.on_task_failure(
        {
            "task_instance": ti,
            "run_id": "manual__1",
            "params": {"round": "2024-R1"},
            "exception": RuntimeError("dbt build failed:\n model.x"),
        }
    )
    lines = (tmp_path / "logs" / "reformwatch_failures.log").read_text().splitlines()
    assert len(lines) == 1
    for part in (
        "dag=reformwatch_build",
        "task=build",
        "round=2024-R1",
        "error=RuntimeError: dbt build failed: model.x",
    ):
        assert part in lines[0]
    assert lines == CALLS
