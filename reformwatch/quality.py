"""Great Expectations checkpoint over the work database, after dbt.

Suites live as JSON files in expectations/ (meta.layer: raw or marts; meta.query: the SQL whose
result is validated). Each suite is validated per round on a pandas DataFrame read through a
read-only DuckDB connection (GX's SQL datasource silently fails on DuckDB: shared/STACK.md).
A failing marts suite fails the run; a failing raw suite warns. An expectation that saw no rows (a
round announced before any file landed, a part of a round without data yet) is not applicable: recorded
as such (applicable = false; the round's run in Data Docs is named "... no rows: not applicable"),
never as a failure, and never as a pass either. An expectation that raised an error fails.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from .config import EXPECTATIONS_DIR, connect_work_db
from .csvload import insert_columns
from .offline_docs import localize_site
from .safe_text import html_values

log = logging.getLogger(__name__)

RESULT_COLUMNS = (
    "round_id",
    "suite",
    "layer",
    "expectation",
    "column_name",
    "success",
    "applicable",
    "observed_value",
    "element_count",
    "unexpected_count",
    "unexpected_examples",
    "fails_run",
    "checked_at",
)


RESULT_DOCS = {
    "round_id": "Round the batch belongs to.",
    "suite": "Suite name (file expectations/<suite>.json).",
    "layer": "raw (a failure warns) or marts (a failure fails the run).",
    "expectation": "Great Expectations expectation type.",
    "column_name": "Column(s) the expectation is about, if any.",
    "success": "False when the expectation failed (or raised an error); true when it held or was not applicable.",
    "applicable": "False when the expectation had no rows to check (e.g. a round without data yet).",
    "observed_value": "What GX observed (or how many rows were unexpected; not applicable: no rows to check).",
    "element_count": "Rows the expectation looked at.",
    "unexpected_count": "Rows that broke the expectation.",
    "unexpected_examples": "Up to five unexpected values.",
    "fails_run": "Whether a failure of this expectation fails the run.",
    "checked_at": "When the checkpoint ran.",
}


class ChecksError(Exception):
    """The checks could not run (not: an expectation failed); the message says why."""


@dataclass
class Suite:
    name: str
    layer: str  # raw | marts
    query: str
    expectations: list[dict]
    description: str = ""

    @property
    def fails_run(self) -> bool:
        return self.layer == "marts"


@dataclass
class QualityResult:
    rows: list[dict] = field(default_factory=list)
    docs_index: Path | None = None

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if not r["success"]]

    @property
    def run_failures(self) -> list[dict]:
        return [r for r in self.failed if r["fails_run"]]


def max_rows() -> int:
    """Rows per round a raw suite validates (REFORMWATCH_GX_MAX_ROWS, default 100000): a sample for the
    distribution view; the dbt checks check every row."""
    return int(os.environ.get("REFORMWATCH_GX_MAX_ROWS", "100000"))


def load_suites(folder: Path | None = None) -> list[Suite]:
    folder = folder or EXPECTATIONS_DIR
    suites = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        meta = doc.get("meta", {})
        suites.append(
            Suite(
                doc["name"],
                meta["layer"],
                meta["query"],
                doc["expectations"],
                meta.get("description", ""),
            )
        )
    return suites


def preload():
    """Import Great Expectations (about 2 s) quietly, without usage statistics; return the module."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    warnings.filterwarnings("ignore", module="great_expectations")
    import great_expectations as gx

    return gx


def _context(gx_dir: Path, docs_dir: Path):
    gx = preload()

    ctx = gx.get_context(mode="file", project_root_dir=str(gx_dir))
    ctx.variables.progress_bars = {"globally": False, "metric_calculations": False}
    ctx.update_data_docs_site(
        "local_site",
        {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    return gx, ctx


def _observed(result: dict) -> str | None:
    if result.get("observed_value") is not None:
        return str(result["observed_value"])
    if result.get("unexpected_count") is not None:
        return f"{result['unexpected_count']} of {result.get('element_count')} rows unexpected"
    return None


def _saw_no_data(cfg_type: str, result: dict) -> bool:
    """True when an expectation checked nothing: no rows (element_count 0) or no observation at all."""
    if "element_count" in result and result["element_count"] is not None:
        return result["element_count"] == 0
    return result.get("observed_value") is None


def _raised(r) -> str | None:
    """The message of an error GX met evaluating an expectation, if any."""
    info = r.exception_info or {}
    infos = [info] if "raised_exception" in info else [i for i in info.values() if isinstance(i, dict)]
    for i in infos:
        if i.get("raised_exception"):
            return str(i.get("exception_message") or "error")
    return None


NOT_APPLICABLE = "not applicable: no rows to check"


def _validation_definition(gx, ctx, suite: Suite):
    """Register a suite, its DataFrame asset and its validation definition in the context; return the latter."""
    try:  # add_or_update would replace the data source, and with it the assets of the other suites
        source = ctx.data_sources.get("reformwatch")
    except (KeyError, LookupError, ValueError):
        source = ctx.data_sources.add_pandas("reformwatch")
    asset_name = suite.name
    try:
        asset = source.get_asset(asset_name)
    except LookupError:
        asset = source.add_dataframe_asset(asset_name)
    try:
        batch = asset.get_batch_definition("whole")
    except (KeyError, LookupError, ValueError):
        batch = asset.add_batch_definition_whole_dataframe("whole")
    gx_suite = ctx.suites.add_or_update(gx.ExpectationSuite(name=suite.name, expectations=suite.expectations))
    return ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=batch, suite=gx_suite)
    )


def validate_frame(gx, ctx, suite: Suite, df, round_id: str, checked_at: datetime, vd=None) -> list[dict]:
    """Validate one round's DataFrame against one suite; one row per expectation."""
    vd = vd or _validation_definition(gx, ctx, suite)
    run_name = round_id if len(df) else f"{round_id} (no rows: not applicable)"
    res = vd.run(
        batch_parameters={"dataframe": df},
        result_format="SUMMARY",
        run_id=gx.RunIdentifier(run_name=run_name, run_time=checked_at),
    )
    rows = []
    for r in res.results:
        cfg = r.expectation_config
        result = r.result or {}
        error = _raised(r)
        no_data = error is None and _saw_no_data(cfg.type, result)
        examples = result.get("partial_unexpected_list") or []
        observed = _observed(result)
        if error is not None:
            observed = f"error: {error}"[:500]
        elif no_data:
            observed = NOT_APPLICABLE
        rows.append(
            {
                "round_id": round_id,
                "suite": suite.name,
                "layer": suite.layer,
                "expectation": cfg.type,
                "column_name": cfg.kwargs.get("column")
                or ",".join(str(v) for k, v in cfg.kwargs.items() if k.startswith("column") and v is not None)
                or None,
                "success": no_data or (bool(r.success) and error is None),
                "applicable": not no_data,
                "observed_value": observed,
                "element_count": result.get("element_count"),
                "unexpected_count": result.get("unexpected_count"),
                "unexpected_examples": ", ".join(map(str, examples[:5])) or None,
                "fails_run": suite.fails_run,
                "checked_at": checked_at,
            }
        )
    return rows


@dataclass
class _Batch:
    """One (suite, round) to validate, with its rows."""

    suite: Suite
    round_id: str
    df: object  # pandas.DataFrame


def _validate_batches(gx, ctx, batches: list[_Batch], checked_at: datetime) -> list[list[dict]]:
    """Validate each batch; the rows of each, in order."""
    vds = {b.suite.name: _validation_definition(gx, ctx, b.suite) for b in batches}
    return [validate_frame(gx, ctx, b.suite, b.df, b.round_id, checked_at, vds[b.suite.name]) for b in batches]


def _batch_sql(con: duckdb.DuckDBPyConnection, suite: Suite, round_id: str, cap: int) -> str:
    """SQL ($1 = round) of the rows a suite validates for a round.

    Marts are small and read whole. Raw suites look at a sample when a round is huge (row-level errors
    are all caught by the dbt checks; GX adds the distribution view): the rows whose content hash is
    0 modulo ceil(rows / cap), at most cap of them, ordered by that hash. The sample and the examples
    GX reports are the same on every run, and choosing it needs no sort of the whole round.
    """
    query = f"select * from ({suite.query}) as q where round_id = $1"
    if suite.layer != "raw":
        return f"{query} order by all"
    rows = con.execute(f"select count(*) from ({query})", [round_id]).fetchone()[0]
    every = max(1, -(-rows // cap))
    return f"select * from ({query}) as q where hash(*columns(*)) % {every} = 0 order by hash(*columns(*)) limit {cap}"


def run_checkpoint(
    work_db: Path,
    gx_dir: Path,
    docs_dir: Path,
    suites: list[Suite] | None = None,
    validated: Callable[[QualityResult], None] | None = None,
) -> QualityResult:
    """Validate every suite for every round, build Data Docs, return one row per expectation.

    gx_dir (the GX project: suites, validation results) and docs_dir (the Data Docs site) are generated
    folders, created afresh by every checkpoint: Data Docs show this run's results, as GX builds them.
    The published warehouse keeps them too (dq.expectation_results), the run history is ops.pipeline_runs.
    `validated` is called with the result once the work database is closed, before Data Docs are built.
    """
    suites = suites if suites is not None else load_suites()
    for folder in (gx_dir, docs_dir):
        shutil.rmtree(folder, ignore_errors=True)
    gx, ctx = _context(gx_dir, docs_dir)
    checked_at = datetime.now(UTC)
    cap = max_rows()
    batches: list[_Batch] = []
    con = connect_work_db(work_db, read_only=True)
    try:
        rounds = [r[0] for r in con.execute("select round_id from staging.stg_landing__rounds order by 1").fetchall()]
        for suite in suites:
            for round_id in rounds:
                df = con.execute(_batch_sql(con, suite, round_id, cap), [round_id]).df()
                batches.append(_Batch(suite, round_id, df))
    finally:
        con.close()
    out = QualityResult(rows=[row for rows in _validate_batches(gx, ctx, batches, checked_at) for row in rows])
    out.docs_index = docs_dir / "index.html"
    if validated:
        validated(out)
    _values_as_text(ctx)
    ctx.build_data_docs(site_names=["local_site"])
    localize_site(docs_dir)
    return out


def _values_as_text(ctx) -> None:
    """HTML-escape the values in the stored results (unexpected and observed values) before Data Docs
    are built: GX 1.24.1 writes them into its pages as they are, so a submitted `<script>` would run in
    the reader's browser. Through the store's get and set; dq.expectation_results keeps the values as
    they were (they are rows, not HTML)."""
    store = ctx.validation_results_store
    for key in store.list_keys():
        result = store.get(key)
        for r in result.results:
            r.result = html_values(r.result)
        store.set(key, result)


def store_results(con: duckdb.DuckDBPyConnection, result: QualityResult) -> None:
    """Write dq.expectation_results and add failed expectations to dq.issues (source 'expectations')."""
    con.execute("begin")
    try:
        _store(con, result)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _store(con: duckdb.DuckDBPyConnection, result: QualityResult) -> None:
    con.execute(
        """create or replace table dq.expectation_results (round_id varchar, suite varchar, layer varchar,
           expectation varchar, column_name varchar, success boolean, applicable boolean, observed_value varchar,
           element_count bigint, unexpected_count bigint, unexpected_examples varchar, fails_run boolean,
           checked_at timestamptz)"""
    )
    con.execute(
        "comment on table dq.expectation_results is 'Great Expectations results (数据校验结果): one row per "
        "round, suite and expectation, after every build'"
    )
    for column, text in RESULT_DOCS.items():
        con.execute(f"comment on column dq.expectation_results.{column} is '{text}'")
    con.execute("delete from dq.issues where source = 'expectations'")  # a checkpoint run again
    if not result.rows:
        return
    insert_columns(con, "dq.expectation_results", {c: [r[c] for r in result.rows] for c in RESULT_COLUMNS})
    con.execute(
        """insert into dq.issues (round_id, unit_code, source, check_name, severity, detail, file_path, detected_at,
                                  detail_zh)
           select e.round_id, null, 'expectations', k.check_name, k.severity,
                  'Great Expectations suite ' || suite || ': ' || expectation
                  || coalesce(' on ' || column_name, '') || ' failed (' || coalesce(observed_value, 'no value')
                  || coalesce('; e.g. ' || unexpected_examples, '') || ')'
                  || case when layer = 'marts' then '. A figure of the warehouse breaks its definition: '
                          || 'report it to the data engineers; the refresh was not published'
                          else '. Submitted data are unusual; see the other issues of this round' end,
                  null, checked_at,
                  e.round_id || ' 轮：' || k.label_zh || '（' || suite || '：' || expectation
                  || coalesce('，' || column_name, '') || '）。' || k.fix_zh
           from dq.expectation_results as e
           inner join dq.checks as k
               on k.check_name = if(layer = 'marts', 'marts_expectation_failed', 'raw_expectation_failed')
           where not success"""
    )
