"""What the Airflow tasks do, as plain functions (unit-testable without Airflow)."""

from __future__ import annotations

import logging
from dataclasses import asdict

from . import ops
from .config import Settings, connect_quietly
from .pipeline import build_phase, ingest_phase, new_summary, parse_as_of, record_run, recorded, summarise

log = logging.getLogger(__name__)

POOL = "reformwatch_duckdb"  # every task that writes DuckDB runs in this 1-slot pool
ASSET_NAME = "reformwatch_warehouse"


def ingest_step(settings: Settings, as_of: str | None = None) -> dict:
    """Load new files; report whether the warehouse needs a rebuild."""
    summary = new_summary(settings, parse_as_of(as_of), trigger="airflow:reformwatch_ingest")
    with recorded(settings, summary):
        needs_build = ingest_phase(settings, summary.as_of, summary, say=log.info)
        if not needs_build:
            record_run(settings, summary, "succeeded")
            ops.republish_history(settings.warehouse, settings.work_dir)
    res = summary.ingest
    out = {
        "needs_build": needs_build,
        "files_seen": res.files_seen,
        "files_loaded": res.files_read,
        "files_rejected_unread": res.files_rejected,
        "rows_loaded": res.rows_loaded,
        "changed_rounds": sorted(res.changed_rounds),
    }
    log.info("ingest summary: %s", out)
    if not needs_build:
        log.info("nothing new in %s: no warehouse update announced", settings.landing)
    return out


def build_step(settings: Settings, as_of: str | None = None) -> dict:
    """dbt build + checks + publish; then the round summary (late and missing units) for the log."""
    summary = new_summary(settings, parse_as_of(as_of), trigger="airflow:reformwatch_build")
    with recorded(settings, summary):
        build_phase(settings, summary.as_of, summary, say=log.info)
    summarise(summary)
    for line in summary.headlines + round_attention(settings):
        log.info(line)
    out = {k: v for k, v in asdict(summary).items() if k in ("rounds", "units", "examinees", "issues", "phases")}
    out["warehouse"] = str(settings.warehouse)
    return out


def round_attention(settings: Settings) -> list[str]:
    """Late and missing units per round, in words, from the published warehouse."""
    con = connect_quietly(settings.warehouse, read_only=True)
    try:
        rows = con.execute(
            """select round_id, check_name, string_agg(coalesce(unit_code, '?'), ', ' order by unit_code)
               from dq.issues
               where check_name in ('late_submission', 'missing_submission', 'missing_exam_results')
               group by all order by all"""
        ).fetchall()
    finally:
        con.close()
    return [f"{r}: {check.replace('_', ' ')}: {units}" for r, check, units in rows]
