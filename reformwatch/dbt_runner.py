"""dbt on the work database through its documented programmatic interface (`dbtRunner`).

The functions here run in the dbt worker process (dbt_worker), never in the pipeline's own: dbt-duckdb
keeps its DuckDB instance for the life of the process, and the worker's exit releases the work database.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import DBT_PROJECT_DIR

log = logging.getLogger(__name__)

TARGET = "dbt_target"  # the target folder of a warehouse's builds and docs, in its work folder
# `dbt parse` keeps dbt's partial parsing state in the project's own target folder (dbt's default), shared by
# every warehouse of this checkout: the profile names the work database relative to the dbt process's
# folder (the work database's folder), so it reads the same for every warehouse and a new warehouse
# folder parses partially (about 0.7 s) instead of fully (2.5-4 s).
PARSE_TARGET = DBT_PROJECT_DIR / "target"


class DbtError(Exception):
    """dbt could not build the models; the message names the failed nodes."""


@dataclass
class DbtResult:
    nodes: int
    failures: list[str]
    warnings: list[str]


Progress = Callable[[int, int], None]  # (nodes finished, nodes selected)


def dbt_args(args: list[str], work_dir: Path, target: Path | None = None) -> list[str]:
    """`args` with the project, profile, target (default: the work folder's) and log folders of the pipeline."""
    return [
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target-path",
        str(target or work_dir / TARGET),
        "--log-path",
        str(work_dir / "logs"),
        # info: a line per node with its outcome and time; debug adds every SQL statement
        "--log-level-file",
        os.environ.get("REFORMWATCH_DBT_LOG_LEVEL", "info"),
        "--quiet",
    ]


def use_work_db(work_db: Path) -> None:
    """Point dbt's profile (dbt_project/profiles.yml) at the work database, by its name in this process's
    folder (the caller starts the process there: see PARSE_TARGET); no usage statistics."""
    if Path.cwd().resolve() != work_db.parent.resolve():
        raise RuntimeError(f"dbt must run in the work database's folder {work_db.parent}, not in {Path.cwd()}")
    os.environ["REFORMWATCH_WORK_DB"] = work_db.name
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")


def parse(work_dir: Path) -> Any:
    """`dbt parse` (with dbt's partial parsing in PARSE_TARGET); the manifest, or None when the project does
    not parse (the build then parses again and reports the error in its context)."""
    from dbt.cli.main import dbtRunner

    res = dbtRunner().invoke(dbt_args(["parse", "--no-write-json"], work_dir, target=PARSE_TARGET))
    if res.exception is not None or not res.success:
        log.warning("dbt parse failed: %s", res.exception or "see the dbt log")
        return None
    return res.result


def _progress_callback(progress: Progress) -> Callable[[Any], None]:
    """A dbt event callback that calls progress(finished, selected) each time a node finishes."""
    state = {"total": 0, "done": 0}

    def on_event(msg: Any) -> None:
        name = msg.info.name
        if name == "LogStartLine":  # "3 of 97 START ...": the number of nodes selected
            state["total"] = max(state["total"], msg.data.total)
        elif name == "NodeFinished":
            state["done"] += 1
            progress(state["done"], max(state["total"], state["done"]))

    return on_event


def invoke(args: list[str], work_dir: Path, manifest: Any = None, progress: Progress | None = None) -> DbtResult:
    """`dbt <args>`; raise DbtError when dbt cannot run or a node errors or fails.

    `manifest`: a parsed project (parse) that dbt uses instead of parsing again, as dbt's documentation
    on programmatic invocations describes. `progress` is called as nodes finish."""
    from dbt.cli.main import dbtRunner

    full = dbt_args(args, work_dir)
    log.debug("dbt %s", " ".join(full))
    callbacks = [_progress_callback(progress)] if progress else []
    res = dbtRunner(manifest=manifest, callbacks=callbacks).invoke(full)
    if res.exception is not None:
        raise DbtError(f"dbt {args[0]} could not run: {res.exception}")
    failures, warnings, nodes = [], [], 0
    results = getattr(res.result, "results", res.result)  # docs generate returns a CatalogArtifact
    for r in results if isinstance(results, list | tuple) else []:
        nodes += 1
        status = str(getattr(r, "status", ""))
        name = getattr(getattr(r, "node", None), "unique_id", "?")
        msg = (getattr(r, "message", "") or "").strip().splitlines()
        if status in ("error", "fail", "runtime error"):
            failures.append(f"{name}: {msg[0] if msg else status}")
        elif status == "warn":
            warnings.append(f"{name}: {msg[0] if msg else status}")
    if failures or not res.success:
        raise DbtError("dbt build failed: " + ("; ".join(failures) or "see the dbt log in " + str(work_dir / "logs")))
    return DbtResult(nodes, failures, warnings)
