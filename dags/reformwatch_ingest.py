"""reformwatch_ingest: load new or changed landing files into DuckDB; announce the warehouse asset
only when something new arrived (or a deadline passed), so an unchanged landing zone triggers nothing.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from reformwatch.airflow_support import (
    DEFAULT_ARGS,
    WAREHOUSE_ASSET,
    WRITER,
    ingest_schedule,
    no_retry_on_bad_setup,
)
from reformwatch.config import Settings
from reformwatch.orchestration import ingest_step


@dag(
    dag_id="reformwatch_ingest",
    schedule=ingest_schedule(),
    start_date=pendulum.datetime(2024, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={"as_of": Param(None, type=["null", "string"], description="ISO 8601 as-of instant (default: now)")},
    tags=["reformwatch"],
    doc_md=__doc__,
)
def reformwatch_ingest():
    @task(**WRITER)
    def ingest(params=None) -> dict:
        return no_retry_on_bad_setup(ingest_step, Settings(), (params or {}).get("as_of"))

    @task.short_circuit
    def anything_new(summary: dict) -> bool:
        return summary["needs_build"]

    @task(outlets=[WAREHOUSE_ASSET])
    def announce(summary: dict) -> dict:
        """Emits the asset event that schedules reformwatch_build."""
        return {"changed_rounds": summary["changed_rounds"]}

    summary = ingest()
    anything_new(summary) >> announce(summary)


reformwatch_ingest()
