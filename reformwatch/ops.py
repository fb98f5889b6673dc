"""Run history: one record per run (CLI or Airflow), also failed ones, published as ops.pipeline_runs.

Records are appended to <warehouse>.work/runs.jsonl (readable while a refresh holds the database)
and copied into the published warehouse at every publish; a failed run re-publishes the previous
warehouse with the new history so `select * from ops.pipeline_runs` always shows it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import duckdb

from .config import connect_quietly

log = logging.getLogger(__name__)

RUN_COLUMNS = {  # column -> (type, description)
    "run_id": ("varchar", "Identifier of the run."),
    "trigger": ("varchar", "cli, or airflow:<dag_id> for a DAG task."),
    "started_at": ("timestamptz", "When the run started."),
    "finished_at": ("timestamptz", "When it finished (or failed)."),
    "status": ("varchar", "succeeded or failed."),
    "rebuilt": ("boolean", "Whether dbt, the checks and the publish ran (false: nothing new)."),
    "as_of": ("timestamptz", "The as-of instant that decided which deadlines had passed."),
    "landing": ("varchar", "The landing zone read."),
    "files_seen": ("bigint", "Submission files found in the landing zone."),
    "files_loaded": ("bigint", "New or changed files read and loaded into raw tables."),
    "files_rejected": ("bigint", "Files rejected unread (name, unit, size, links; or could not be opened)."),
    "rows_loaded": ("bigint", "Rows loaded into raw tables."),
    "issues_error": ("bigint", "dq.issues rows of severity error after the run."),
    "issues_warning": ("bigint", "dq.issues rows of severity warning after the run."),
    "lock_wait_s": ("double", "Seconds spent waiting for another refresh of the same warehouse."),
    "ingest_s": ("double", "Seconds spent scanning and loading."),
    "dbt_s": ("double", "Seconds spent in dbt build."),
    "checks_s": ("double", "Seconds spent in Great Expectations."),
    "publish_s": ("double", "Seconds spent publishing the warehouse."),
    "report_s": ("double", "Seconds spent writing bulletins."),
    "duration_s": ("double", "Wall time of the whole run."),
    "error": ("varchar", "The error of a failed run."),
}


def runs_file(work_dir: Path) -> Path:
    return work_dir / "runs.jsonl"


def append_run(work_dir: Path, record: dict) -> None:
    work_dir.mkdir(parents=True, exist_ok=True)
    line = json.dumps({k: record.get(k) for k in RUN_COLUMNS}, default=str, ensure_ascii=False)
    with open(runs_file(work_dir), "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_runs(work_dir: Path) -> list[dict]:
    """Every run, oldest first; when a run was recorded twice (e.g. succeeded, then failed at publish),
    its last record wins."""
    path = runs_file(work_dir)
    if not path.is_file():
        return []
    runs: dict[str, dict] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut by a crash mid-write
            continue
        runs.pop(rec.get("run_id"), None)
        runs[rec.get("run_id")] = rec
    return list(runs.values())


def write_runs_table(con: duckdb.DuckDBPyConnection, schema: str, runs: list[dict]) -> None:
    """(Re)create <schema>.pipeline_runs from run records."""
    cols = ", ".join(f"{c} {t}" for c, (t, _) in RUN_COLUMNS.items())
    con.execute(f"create schema if not exists {schema}")
    con.execute(f"create or replace table {schema}.pipeline_runs ({cols})")
    if runs:
        names = list(RUN_COLUMNS)
        select = ", ".join(f"unnest(${i + 1})::{RUN_COLUMNS[c][0]} as {c}" for i, c in enumerate(names))
        con.execute(
            f"insert into {schema}.pipeline_runs select {select}",
            [[r.get(c) for r in runs] for c in names],
        )
    con.execute(
        f"comment on table {schema}.pipeline_runs is "
        "'Run history (运行记录): one row per pipeline run, CLI or Airflow, including failed runs'"
    )
    for column, (_, text) in RUN_COLUMNS.items():
        con.execute(f"comment on column {schema}.pipeline_runs.{column} is '{text}'")


def republish_history(warehouse: Path, work_dir: Path) -> None:
    """After a failed run: a copy of the published warehouse with the new history, renamed into place."""
    tmp = warehouse.with_name(f".{warehouse.name}.history")
    tmp.unlink(missing_ok=True)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    if warehouse.is_file():
        shutil.copyfile(warehouse, tmp)
    from .publish import attach_published  # publish writes the history with ops: imported when used

    con = connect_quietly(":memory:")
    try:
        attach_published(con, tmp, "published")
        write_runs_table(con, "published.ops", read_runs(work_dir))
        con.execute("checkpoint published")
        con.execute("detach published")
    finally:
        con.close()
    os.replace(tmp, warehouse)
