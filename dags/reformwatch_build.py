"""reformwatch_build: on every warehouse asset event, run dbt build (models and checks) and publish
the warehouse; logs the round summary with late and missing units.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from reformwatch.airflow_support import DEFAULT_ARGS, WAREHOUSE_ASSET, WRITER, no_retry_on_bad_setup
from reformwatch.config import Settings
from reformwatch.orchestration import build_step


@dag(
    dag_id="reformwatch_build",
    schedule=[WAREHOUSE_ASSET],
    start_date=pendulum.datetime(2024, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params={"as_of": Param(None, type=["null", "string"], description="ISO 8601 as-of instant (default: now)")},
    tags=["reformwatch"],
    doc_md=__doc__,
)
def reformwatch_build():
    @task(**WRITER)
    def build(params=None) -> dict:
        """dbt build + checks + atomic publish; a failed dbt node is named in the error."""
        return no_retry_on_bad_setup(build_step, Settings(), (params or {}).get("as_of"))

    build()


reformwatch_build()
