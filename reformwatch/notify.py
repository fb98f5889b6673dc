"""Failure visibility for Airflow tasks: a one-line summary in a log file, plus pluggable notifiers.

Notifiers: REFORMWATCH_NOTIFIERS="package.module:function,..."; each is called as
function(line: str, context: dict) after the line is written (e-mail, IM, pager...).
A notifier that fails is logged and never hides the original failure.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def failure_log_path() -> Path:
    home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    return home / "logs" / "reformwatch_failures.log"


def failure_line(context: Mapping[str, Any]) -> str:
    """DAG, task, run, round and error on one line."""
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = context.get("run_id") or getattr(ti, "run_id", "?")
    params = context.get("params") or {}
    rounds = params.get("round") or "all"
    err = context.get("exception")
    error = " ".join(f"{type(err).__name__}: {err}".split()) if err else "unknown error"
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    return f"{stamp} FAILED dag={dag_id} task={task_id} run={run_id} round={rounds} error={error[:500]}"


def on_task_failure(context: Mapping[str, Any]) -> None:
    """Airflow on_failure_callback."""
    line = failure_line(context)
    path = failure_log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
    log.error(line)
    for spec in filter(None, (s.strip() for s in os.environ.get("REFORMWATCH_NOTIFIERS", "").split(","))):
        try:
            module, _, func = spec.partition(":")
            getattr(importlib.import_module(module), func)(line, dict(context))
        except Exception:  # a broken notifier must not mask the task's failure
            log.exception("notifier %s failed", spec)
