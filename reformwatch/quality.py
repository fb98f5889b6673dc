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

import contextlib
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from .config import EXPECTATIONS_DIR, connect_work_db
from .csvload import insert_columns

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
    inputs: str | None = None  # SQL: (round_id, digest of what the query reads for that round)

    @property
    def fails_run(self) -> bool:
        return self.layer == "marts"

    @property
    def input_sql(self) -> str | None:
        """SQL of (round_id, digest of what the suite reads): meta.inputs, or a marts suite's own rows."""
        if self.inputs or self.layer != "marts":
            return self.inputs
        return (
            "select round_id, count(*) || ':' || sum(hash(*columns(*)))::varchar "
            f"from ({self.query}) as q group by round_id"
        )

    @property
    def definition(self) -> str:
        """A digest of the suite itself: a changed suite is validated again everywhere."""
        text = json.dumps([self.layer, self.query, self.inputs, self.expectations], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class QualityResult:
    rows: list[dict] = field(default_factory=list)
    docs_index: Path | None = None
    input_keys: dict[tuple[str, str], str] = field(default_factory=dict)  # (suite, round) -> what it read
    reused: list[tuple[str, str]] = field(default_factory=list)  # (suite, round) not validated again

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if not r["success"]]

    @property
    def run_failures(self) -> list[dict]:
        return [r for r in self.failed if r["fails_run"]]


def max_rows() -> int:
    """Rows per round a raw suite validates (REFORMWATCH_GX_MAX_ROWS, default 500000)."""
    return int(os.environ.get("REFORMWATCH_GX_MAX_ROWS", "500000"))


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
                meta.get("inputs"),
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
    reuse: bool = False,
) -> QualityResult:
    """Validate every suite for every round, build Data Docs, return one row per expectation.

    `validated` is called with the result once the work database is closed, before Data Docs are built.
    With `reuse`, a (suite, round) whose inputs (meta.inputs: the sheets it reads) and models are those
    of the stored results takes those results instead of being validated again. Only the pipeline
    passes it: it never changes a loaded file's rows in place, so same files mean same rows.
    """
    suites = suites if suites is not None else load_suites()
    gx, ctx = _context(gx_dir, docs_dir)
    checked_at = datetime.now(UTC)
    out = QualityResult()
    cap = max_rows()
    slots: list[list[dict] | int] = []  # per (suite, round) in order: rows reused, or a batch position
    batches: list[_Batch] = []
    con = connect_work_db(work_db, read_only=True)
    try:
        rounds = [r[0] for r in con.execute("select round_id from staging.stg_landing__rounds order by 1").fetchall()]
        basis, previous = _previous_results(con) if reuse else ("", {})
        for suite in suites:
            digests = dict(con.execute(suite.input_sql).fetchall()) if suite.input_sql and basis else {}
            for round_id in rounds:
                if round_id in digests:
                    key = hashlib.sha256(f"{suite.definition}|{basis}|{digests[round_id]}".encode()).hexdigest()
                    out.input_keys[(suite.name, round_id)] = key
                    before = previous.get((suite.name, round_id))
                    if before and before[0] == key:  # same suite, same inputs: same results
                        slots.append(before[1])
                        out.reused.append((suite.name, round_id))
                        continue
                df = con.execute(_batch_sql(con, suite, round_id, cap), [round_id]).df()
                slots.append(len(batches))
                batches.append(_Batch(suite, round_id, df))
    finally:
        con.close()
    validated_rows = _validate_batches(gx, ctx, batches, checked_at)
    for slot in slots:
        out.rows.extend(validated_rows[slot] if isinstance(slot, int) else slot)
    out.docs_index = docs_dir / "index.html"
    if validated:
        validated(out)
    _build_data_docs(ctx, docs_dir, checked_at, {b.suite.name for b in batches})
    return out


KEPT_RESULTS = 3  # validation results kept per (suite, round), in the GX store and in Data Docs


def _build_data_docs(ctx, docs_dir: Path, checked_at: datetime, suites: set[str]) -> None:
    """Data Docs for this run: the pages of the results it validated, and the index.

    Each run stores one result per batch it validates; Data Docs' index reads every stored result and a
    full build renders each one again. So all but the newest KEPT_RESULTS per (suite, round) are removed
    with their pages, and only this run's pages are rendered (all of them when there is no site yet).
    """
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    store = ctx.validation_results_store
    stamp = _run_stamp(checked_at)
    by_batch: dict[tuple[str, str, str], list] = {}
    for key in store.list_keys():
        by_batch.setdefault(
            (key.expectation_suite_identifier.name, key.run_id.run_name, key.batch_identifier), []
        ).append(key)
    new = []
    for keys in by_batch.values():
        keys.sort(key=lambda k: k.run_id.run_time, reverse=True)
        new += [k for k in keys if _run_stamp(k.run_id.run_time) == stamp]
        for key in keys[KEPT_RESULTS:]:
            store.remove_key(key)
            _remove_with_empty_folders(
                docs_dir.joinpath("validations", *key.to_tuple()[:-1]), key.to_tuple()[-1] + ".html"
            )
    if not (docs_dir / "index.html").is_file():
        ctx.build_data_docs(site_names=["local_site"])
    elif new:
        pages = [*new, *(ExpectationSuiteIdentifier(name=name) for name in sorted(suites))]
        ctx.build_data_docs(site_names=["local_site"], resource_identifiers=pages)


def _run_stamp(run_time: datetime) -> str:
    """A run time as GX writes it in the names of its results (microseconds, UTC)."""
    return run_time.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


def _remove_with_empty_folders(folder: Path, name: str) -> None:
    """Remove folder/name, then folder and its parents while they are empty."""
    (folder / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty (or gone): stop
        while folder.name != "validations":
            folder.rmdir()
            folder = folder.parent


def _previous_results(con: duckdb.DuckDBPyConnection) -> tuple[str, dict[tuple[str, str], tuple[str, list[dict]]]]:
    """What the models were built from (the code's and the registries' fingerprints of raw.build_state;
    empty when unknown) and the last stored results per (suite, round) with the input key they were
    made from."""
    tables = {(s, t) for s, t in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()}
    basis = ""
    if ("raw", "build_state") in tables:
        code, registries = con.execute("select built_basis, registry_fingerprint from raw.build_state").fetchone()
        basis = f"{code}|{registries}" if code and registries else ""
    if not {("raw", "expectation_inputs"), ("dq", "expectation_results")} <= tables or not basis:
        return basis, {}
    cur = con.execute(
        f"""select i.input_key, {", ".join("r." + c for c in RESULT_COLUMNS)}
            from dq.expectation_results r join raw.expectation_inputs i using (suite, round_id)"""
    )
    previous: dict[tuple[str, str], tuple[str, list[dict]]] = {}
    for key, *values in cur.fetchall():
        row = dict(zip(RESULT_COLUMNS, values))
        previous.setdefault((row["suite"], row["round_id"]), (key, []))[1].append(row)
    return basis, previous


def store_results(con: duckdb.DuckDBPyConnection, result: QualityResult) -> None:
    """Write dq.expectation_results and add failed expectations to dq.issues (source 'expectations').

    raw.expectation_inputs keeps what each (suite, round) read, so the next checkpoint can reuse the
    results of batches whose inputs did not change.
    """
    con.execute("begin")
    try:
        _store(con, result)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _store(con: duckdb.DuckDBPyConnection, result: QualityResult) -> None:
    con.execute("create or replace table raw.expectation_inputs (suite varchar, round_id varchar, input_key varchar)")
    if result.input_keys:
        keys = sorted(result.input_keys.items())
        insert_columns(
            con,
            "raw.expectation_inputs",
            {"suite": [k[0] for k, _ in keys], "round_id": [k[1] for k, _ in keys], "input_key": [v for _, v in keys]},
        )
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
    # dq.issues keeps the rows of rounds an incremental build did not rebuild (dbt macro by_round): the
    # failed expectations of every round are added again from this result, which holds every round
    con.execute("delete from dq.issues where source = 'expectations'")
    if not result.rows:
        return
    insert_columns(con, "dq.expectation_results", {c: [r[c] for r in result.rows] for c in RESULT_COLUMNS})
    con.execute(
        """insert into dq.issues (round_id, unit_code, source, check_name, severity, detail, file_path, detected_at)
           select round_id, null, 'expectations',
                  case when layer = 'marts' then 'marts_expectation_failed' else 'raw_expectation_failed' end,
                  case when layer = 'marts' then 'error' else 'warning' end,
                  'Great Expectations suite ' || suite || ': ' || expectation
                  || coalesce(' on ' || column_name, '') || ' failed (' || coalesce(observed_value, 'no value')
                  || coalesce('; e.g. ' || unexpected_examples, '') || ')'
                  || case when layer = 'marts' then '. A figure of the warehouse breaks its definition: '
                          || 'report it to the data engineers; the refresh was not published'
                          else '. Submitted data are unusual; see the other issues of this round' end,
                  null, checked_at
           from dq.expectation_results where not success"""
    )
