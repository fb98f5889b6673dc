"""Glue between Airflow and the package: settings from the environment, asset, retry policy."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

from .config import Settings
from .dbt_runner import DbtError
from .notify import on_task_failure
from .orchestration import ASSET_NAME, POOL
from .pipeline import PipelineError
from .registry import RegistryError

WAREHOUSE_ASSET = Asset(name=ASSET_NAME, uri=f"file://{Settings().warehouse.resolve()}")

# Transient problems (the DuckDB lock, a refresh that held the lock too long) are retried with
# backoff; bad data never raises, and problems a retry cannot fix fail at once.
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "reformwatch",
    "retries": 3,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=5),
    "on_failure_callback": on_task_failure,
}
# With CeleryExecutor, writers also go to one queue consumed by a single worker (docker-compose.yml).
WRITER = {"pool": POOL, "pool_slots": 1, "queue": os.environ.get("REFORMWATCH_WRITER_QUEUE", "default")}


def ingest_schedule() -> str | None:
    """reformwatch_ingest's schedule: REFORMWATCH_INGEST_SCHEDULE (a cron expression or preset; `none`:
    only when triggered), every 10 minutes by default."""
    value = os.environ.get("REFORMWATCH_INGEST_SCHEDULE", "*/10 * * * *").strip()
    return None if value.lower() in ("", "none") else value


def no_retry_on_bad_setup(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run fn; turn errors a retry cannot fix into AirflowFailException (no retry)."""
    try:
        return fn(*args, **kwargs)
    except (PipelineError, RegistryError, DbtError) as e:
        raise AirflowFailException(str(e)) from e
