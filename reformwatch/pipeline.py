"""The refresh, phase by phase; the CLI and the Airflow DAGs call these same functions."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from . import ops, sql_functions
from .child_worker import no_gc_while_loading
from .config import DBT_PROJECT_DIR, PROJECT_ROOT, Settings, connect_quietly, connect_work_db
from .dbt_worker import DbtWorker
from .ingest import IngestResult, ensure_schema, ingest
from .progress import Throttled
from .publish import LockTimeout, Staged, complete, refresh_lock, stage
from .quality import store_results
from .quality_worker import CheckpointWorker
from .rebuild_scope import (
    RebuildScope,
    keep_built_files,
    marks_changed,
    rebuild_scope,
    registries_changed,
    round_digests,
    unchanged_kinds,
)
from .registry import load_registries, registry_code_digest, registry_fingerprint, round_registries
from .report import discard_prepared_feedback, prepare_unit_feedback, refresh_reports
from .scratch import sweep_stale

log = logging.getLogger(__name__)

Say = Callable[[str], None]


class PipelineError(Exception):
    """The pipeline could not run; the message says why and what to do."""


class QualityGateError(PipelineError):
    """A marts expectation failed: the figures break their definitions; nothing was published."""


@dataclass
class RunSummary:
    run_id: str
    as_of: datetime
    warehouse: Path
    trigger: str = "cli"
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    landing: Path | None = None
    ingest: IngestResult | None = None
    rebuilt: bool = False
    rounds: int = 0
    units: int = 0
    examinees: int = 0
    issues: dict[str, int] = field(default_factory=dict)
    headlines: list[str] = field(default_factory=list)
    data_docs: Path | None = None
    reports: list[str] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)


def _crash_point(phase: str) -> None:
    """Test hook: REFORMWATCH_CRASH_AT=<phase> kills this process (SIGKILL) at that phase."""
    if os.environ.get("REFORMWATCH_CRASH_AT") == phase:
        os.kill(os.getpid(), signal.SIGKILL)


def parse_as_of(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    con = duckdb.connect()
    try:
        sql_functions.install(con)
        ts = con.execute("select raw.parse_ts(?)", [value]).fetchone()[0]
    finally:
        con.close()
    if ts is None:
        raise PipelineError(f"--as-of {value!r} is not an ISO 8601 timestamp (e.g. 2018-09-16T00:00:00+08:00)")
    return ts


def _project_fingerprint() -> str:
    """A digest of everything that shapes the dbt models' output: a change forces a full refresh."""
    h = hashlib.sha256()
    files = [DBT_PROJECT_DIR / "dbt_project.yml", Path(sql_functions.__file__)]
    for folder in ("models", "macros", "seeds"):
        files += sorted(p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    for p in files:
        h.update(str(p.relative_to(PROJECT_ROOT)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def _connect_work(settings: Settings) -> duckdb.DuckDBPyConnection:
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    con = connect_work_db(settings.work_db)
    ensure_schema(con)
    con.execute("create table if not exists raw.pipeline_state (ingested_signature varchar, built_signature varchar)")
    if con.execute("select count(*) from raw.pipeline_state").fetchone()[0] == 0:
        con.execute("insert into raw.pipeline_state values (null, null)")
    con.execute("alter table raw.pipeline_state add column if not exists registry_fingerprint varchar")
    con.execute("alter table raw.pipeline_state add column if not exists incremental_basis varchar")
    for column in ("ingested_parts", "built_parts"):  # JSON: kind -> digest of its files, common -> the rest
        con.execute(f"alter table raw.pipeline_state add column if not exists {column} varchar")
    return con


def ingest_phase(settings: Settings, as_of: datetime, summary: RunSummary, say: Say = log.info) -> bool:
    """Load what is new into raw.*; return True when the marts need a rebuild."""
    landing = settings.landing
    if not landing.is_dir():
        raise PipelineError(f"landing zone {landing} does not exist (set --landing or REFORMWATCH_LANDING)")
    with refresh_lock(settings.lock_file, settings.lock_timeout_s, say):
        t0 = time.perf_counter()
        say(f"ingest: scanning {landing}")
        con = _connect_work(settings)
        try:
            con.execute("begin")
            loaded, loaded_parts = con.execute(
                "select registry_fingerprint, ingested_parts from raw.pipeline_state"
            ).fetchone()
            registry = load_registries(con, landing, loaded_fingerprint=loaded)
            said = Throttled(say)
            with no_gc_while_loading():  # 200,000 files' objects: about 2 s of collections
                result = ingest(
                    con,
                    landing,
                    run_id=summary.run_id,
                    loaded_at=datetime.now(UTC),
                    max_file_bytes=settings.max_file_bytes,
                    progress=lambda done, total: said.timed(
                        lambda: f"ingest: {done} of {total} new or changed files read"
                    ),
                )
            _crash_point("load")
            passed = sorted(r for r in registry.rounds if _deadline_passed(con, r, as_of))
            registries = registry_fingerprint(landing, registry.rounds)
            common = hashlib.sha256("|".join([registries, *passed]).encode()).hexdigest()
            by_round = json.loads(loaded_parts or "{}").get("round_registries") if registries == loaded else None
            if by_round is None:  # the registries were loaded again: what they say of each round
                by_round = round_registries(con)
            rounds = round_digests(result.round_signatures, set(registry.rounds), set(passed), by_round)
            parts = json.dumps(
                {
                    **result.kind_signatures,
                    "common": common,
                    "rounds": rounds,
                    "registries": registries,
                    "round_registries": by_round,
                },
                sort_keys=True,
            )
            signature = hashlib.sha256(parts.encode()).hexdigest()  # of everything the build depends on
            con.execute(
                "update raw.pipeline_state set ingested_signature = ?, registry_fingerprint = ?, ingested_parts = ?",
                [signature, registries, parts],
            )
            built = con.execute("select built_signature from raw.pipeline_state").fetchone()[0]
            con.execute("commit")
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("rollback")
            raise
        finally:
            con.close()
    summary.ingest = result
    summary.phases["ingest"] = time.perf_counter() - t0
    say(
        f"ingest: {result.files_seen} files, {result.files_read} new or changed read "
        f"({result.rows_loaded} rows), {result.files_rejected} rejected unread"
    )
    return built != signature or not settings.warehouse.is_file()


def build_phase(
    settings: Settings,
    as_of: datetime,
    summary: RunSummary,
    say: Say = log.info,
    dbt: DbtWorker | None = None,
    checks: CheckpointWorker | None = None,
) -> None:
    """dbt build (models, checks as dbt tests), Great Expectations, then publish the warehouse atomically.

    `dbt` is a worker started earlier (it parses the project meanwhile); without one, one starts here.
    `checks`, likewise, a checks worker the caller started (and stops); without one, one starts here,
    so that GX imports in a child process while dbt builds.
    """
    with contextlib.ExitStack() as stack, refresh_lock(settings.lock_file, settings.lock_timeout_s, say):
        if dbt is None:
            dbt = stack.enter_context(DbtWorker(settings.work_db, settings.work_dir))
        con = _connect_work(settings)
        try:
            pending, built_basis, pending_parts, built_parts = con.execute(
                "select ingested_signature, incremental_basis, ingested_parts, built_parts from raw.pipeline_state"
            ).fetchone()
            # A change of the models or of the code that loads the registries is a full refresh; so is other
            # marks for a round already built (the per-file models read them). Other registry changes
            # rebuild the rounds they concern (rebuild_scope): a new round does not rebuild the history.
            basis = hashlib.sha256(f"{_project_fingerprint()}|{registry_code_digest()}".encode()).hexdigest()
            full_refresh = basis != built_basis or marks_changed(pending_parts, built_parts)
            if full_refresh:  # until this full refresh succeeds, the next build must be one too
                con.execute("update raw.pipeline_state set incremental_basis = null")
            unchanged = [] if full_refresh else unchanged_kinds(pending_parts, built_parts)
            scope = RebuildScope() if full_refresh else rebuild_scope(con, pending_parts, built_parts)
        finally:
            con.close()
        with contextlib.ExitStack() as own:  # a worker started here is stopped (Data Docs waited for) here
            if checks is None:
                checks = own.enter_context(CheckpointWorker())
            _dbt_build(
                settings,
                dbt,
                as_of,
                full_refresh,
                basis,
                summary,
                say,
                skip=unchanged,
                scope=scope,
                registries_kept=not registries_changed(pending_parts, built_parts),
            )
            _crash_point("checks")
            staged = _run_checks(settings, checks, summary, say, exam_unchanged="exam" in unchanged)
            _publish_and_report(settings, summary, say, staged, exam_unchanged="exam" in unchanged)
        con = _connect_work(settings)
        try:
            con.execute("begin")
            con.execute("update raw.pipeline_state set built_signature = ?, built_parts = ?", [pending, pending_parts])
            keep_built_files(con)
            con.execute("commit")
        finally:
            con.close()


def dbt_build_args(full_refresh: bool, skip: list[str] | None = None, registries_kept: bool = True) -> list[str]:
    """The pipeline's `dbt build` arguments: models, seed and data tests; `skip` and `registries_kept` as
    in _dbt_build."""
    args = ["build", "--exclude-resource-type", "unit_test", "--no-write-json"]  # the log has the results
    args += ["--full-refresh"] if full_refresh else []
    # An incremental build has the models of the last successful build (a change makes it a full
    # refresh); while the registries are those of that build too, their views and tests (tag registry) stand.
    kept = ["tag:registry"] if registries_kept else []
    excluded = [] if full_refresh else [*kept, *(f"tag:{kind}" for kind in skip or [])]
    if excluded:
        args += ["--exclude", *excluded]
    return args


def _dbt_build(
    settings: Settings,
    dbt: DbtWorker,
    as_of: datetime,
    full_refresh: bool,
    basis: str,
    summary: RunSummary,
    say: Say,
    skip: list[str] | None = None,
    scope: RebuildScope | None = None,
    registries_kept: bool = True,
) -> None:
    """dbt build of models, seed and data tests; a full refresh when the models, the code that loads the
    registries or a built round's marks changed.

    `skip`: kinds whose models (dbt tag = kind) are left as they are because none of their files changed.
    `scope`: in an incremental build, the rounds and units whose rows the roll-up models rebuild (none: all).
    `registries_kept`: the registry files are those of the last successful build (their views and tests
    are not built again).
    """
    t1 = time.perf_counter()
    env = {"REFORMWATCH_AS_OF": as_of.isoformat()}
    if full_refresh:
        how = "full refresh: first build, or models, registry rules or a built round's marks changed"
    else:
        registry = "registry models kept" if registries_kept else "registries changed: their views and tests built"
        how = f"incremental; {registry}" + "".join(
            f"; {kind} models kept: no {kind} file changed" for kind in skip or []
        )
        if scope is not None and scope.rounds is not None:
            env.update(scope.env())
            how += f"; rounds rebuilt: {scope.describe()}"
    say(f"build: dbt build (staging -> intermediate -> marts, dq; {how}) ...")
    _crash_point("dbt")
    said = Throttled(say)
    res = dbt.run(
        dbt_build_args(full_refresh, skip, registries_kept),
        env=env,
        progress=lambda done, total: said.timed(lambda: f"build: {done} of {total} dbt nodes done"),
    )
    summary.phases["dbt"] = time.perf_counter() - t1
    con = _connect_work(settings)
    try:
        con.execute("update raw.pipeline_state set incremental_basis = ?", [basis])
    finally:
        con.close()
    say(f"build: {res.nodes} dbt nodes ok ({summary.phases['dbt']:.1f} s)")


def _run_checks(
    settings: Settings, checks: CheckpointWorker, summary: RunSummary, say: Say, exam_unchanged: bool = False
) -> Staged:
    """Great Expectations suites into dq; raise QualityGateError (nothing published) when a marts suite failed.

    While the checks worker validates, the tables the checks do not write are copied into the new
    published file(s) (publish.stage), and new rounds' unit feedback files are written ahead (unless
    the exam models were kept: then there is none); all only read the work database. Returns that
    staged publication.
    """
    t_gx = time.perf_counter()
    say("checks: Great Expectations suites (raw warns, marts fails the run) ...")
    checks.start(settings.work_db, settings.gx_dir, settings.data_docs_dir, reuse=True)
    # the feedback thread is joined before the work database is written
    with _unit_feedback_ahead(settings, skip=exam_unchanged, say=say) as feedback:
        staged = stage(settings.work_db, settings.warehouse, settings.analyst_warehouse)
        try:
            quality = checks.result()
        except BaseException:
            staged.discard()
            raise
    if feedback.failed:
        discard_prepared_feedback(settings.reports_dir)
    try:
        con = connect_quietly(settings.work_db)
        try:
            store_results(con, quality)
        finally:
            con.close()
    except BaseException:
        staged.discard()
        raise
    summary.data_docs = quality.docs_index
    summary.phases["checks"] = time.perf_counter() - t_gx
    reused = f", {len(quality.reused)} suite/round batch(es) reused (inputs unchanged)" if quality.reused else ""
    say(
        f"checks: {len(quality.rows)} expectations, {len(quality.failed)} failed "
        f"({summary.phases['checks']:.1f} s{reused}); Data Docs: {quality.docs_index}"
    )
    if quality.run_failures:
        first = "; ".join(
            f"{r['round_id']} {r['suite']}: {r['expectation']} {r['column_name'] or ''} ({r['observed_value']})"
            for r in quality.run_failures[:3]
        )
        checks.finish()  # the Data Docs show the failures
        staged.discard()
        discard_prepared_feedback(settings.reports_dir)
        raise QualityGateError(
            f"{len(quality.run_failures)} marts expectation(s) failed, the warehouse was not published: "
            f"{first}. Details: dq.expectation_results in {settings.work_db}, Data Docs {quality.docs_index}"
        )
    return staged


@dataclass
class _Ahead:
    failed: bool = False


@contextlib.contextmanager
def _unit_feedback_ahead(settings: Settings, skip: bool = False, say: Say = log.info) -> Iterator[_Ahead]:
    """Write the unit feedback folders of new rounds (report.prepare_unit_feedback) in a thread while the
    checks run: both only read the work database, and at a national scale the 100,000 files took as long
    as the checks. Nothing is renamed into place before the run publishes. Leaving the block waits for
    the thread; a failure there is logged (the report phase then writes the files) and marks `failed`;
    a failure in the block removes what the thread wrote.
    With `skip` (the exam models were kept, so no round has new unit files) no thread starts. A long
    write says its progress (progress.Throttled)."""
    ahead = _Ahead()
    said = Throttled(say)

    def written(round_id: str, done: int, total: int) -> None:
        said.timed(lambda: f"checks: unit feedback files of {round_id}: {done} of {total} written")

    def prepare() -> None:
        try:
            prepare_unit_feedback(settings.work_db, settings.reports_dir, progress=written)
        except Exception:
            ahead.failed = True
            log.warning("writing the unit feedback ahead failed; it is written after publishing", exc_info=True)

    if skip:
        yield ahead
        return
    thread = threading.Thread(target=prepare, name="unit-feedback-ahead")
    thread.start()
    try:
        yield ahead
    except BaseException:  # nothing is published: neither are the files written ahead
        thread.join()
        discard_prepared_feedback(settings.reports_dir)
        raise
    thread.join()


def _publish_and_report(
    settings: Settings, summary: RunSummary, say: Say, staged: Staged, exam_unchanged: bool = False
) -> None:
    """Record the run, complete the staged publication of marts/dq/ops (and the analysts' copy),
    regenerate changed bulletins (`exam_unchanged`: the exam models were kept, so were the unit files)."""
    t2 = time.perf_counter()
    summary.rebuilt = True
    con = connect_quietly(settings.work_db, read_only=True)
    try:
        summary.issues = dict(con.execute("select severity, count(*) from dq.issues group by 1").fetchall())
    finally:
        con.close()
    record_run(settings, summary, "succeeded")
    complete(staged, settings.work_db, runs=ops.read_runs(settings.work_dir), hook=_crash_point)
    summary.phases["publish"] = time.perf_counter() - t2
    say(f"publish: {settings.warehouse} ({summary.phases['publish']:.1f} s)")
    t3 = time.perf_counter()
    summary.reports = refresh_reports(
        settings.warehouse, settings.reports_dir, settings.work_db, exam_unchanged=exam_unchanged
    )
    summary.phases["report"] = time.perf_counter() - t3
    if summary.reports:
        say(f"report: bulletins for {', '.join(summary.reports)} in {settings.reports_dir}")


def record_run(settings: Settings, summary: RunSummary, status: str, error: str | None = None) -> None:
    """Append this run to the history (ops.pipeline_runs); a later record of the same run_id wins."""
    ing = summary.ingest
    finished = datetime.now(UTC)
    ops.append_run(
        settings.work_dir,
        {
            "run_id": summary.run_id,
            "trigger": summary.trigger,
            "started_at": summary.started_at.isoformat(),
            "finished_at": finished.isoformat(),
            "status": status,
            "rebuilt": summary.rebuilt,
            "as_of": summary.as_of.isoformat(),
            "landing": str(summary.landing or settings.landing),
            "files_seen": ing.files_seen if ing else None,
            "files_loaded": ing.files_read if ing else None,
            "files_rejected": ing.files_rejected if ing else None,
            "rows_loaded": ing.rows_loaded if ing else None,
            "issues_error": summary.issues.get("error", 0) if summary.rebuilt else None,
            "issues_warning": summary.issues.get("warning", 0) if summary.rebuilt else None,
            **{f"{k}_s": round(v, 3) for k, v in summary.phases.items()},
            "duration_s": round((finished - summary.started_at).total_seconds(), 3),
            "error": error,
        },
    )


def new_summary(settings: Settings, as_of: datetime, trigger: str = "cli") -> RunSummary:
    return RunSummary(uuid.uuid4().hex[:12], as_of, settings.warehouse, trigger=trigger, landing=settings.landing)


def run(
    settings: Settings,
    as_of: datetime,
    say: Say = log.info,
    trigger: str = "cli",
    dbt: DbtWorker | None = None,
    checks: CheckpointWorker | None = None,
) -> RunSummary:
    """Ingest, build, check and publish one warehouse; record the run, failed or not.

    `dbt`: a worker the caller started (and stops) for settings.work_db, e.g. before its own imports;
    without one, one starts here. `checks`: likewise a checks worker (see build_phase). Raises
    PipelineError (and subclasses), RegistryError, DbtError or LockTimeout when it cannot run.
    """
    summary = new_summary(settings, as_of, trigger)
    with recorded(settings, summary, say), contextlib.ExitStack() as stack:
        if dbt is None:
            dbt = stack.enter_context(DbtWorker(settings.work_db, settings.work_dir))
        if ingest_phase(settings, as_of, summary, say):  # meanwhile the worker parses the dbt project
            build_phase(settings, as_of, summary, say, dbt, checks)
        else:
            say("build: nothing new since the last refresh; dbt build and checks skipped")
            record_run(settings, summary, "succeeded")
            ops.republish_history(settings.warehouse, settings.work_dir)
    summarise(summary)
    return summary


@contextlib.contextmanager
def recorded(settings: Settings, summary: RunSummary, say: Say = log.info) -> Iterator[None]:
    """Hold the refresh lock around a run's phases; a failure is recorded (and published) before it propagates."""
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    sweep_stale()  # scratch of runs killed before their clean-up (SIGKILL, power loss)
    try:
        with refresh_lock(settings.lock_file, settings.lock_timeout_s, say) as waited:
            summary.phases["lock_wait"] = waited
            try:
                yield
            except Exception as e:
                record_run(settings, summary, "failed", f"{type(e).__name__}: {e}")
                try:
                    ops.republish_history(settings.warehouse, settings.work_dir)
                except Exception:  # the history stays in runs.jsonl; the original error matters more
                    log.exception("could not publish the run history")
                raise
    except LockTimeout as e:
        record_run(settings, summary, "failed", f"LockTimeout: {e}")
        raise


def _deadline_passed(con: duckdb.DuckDBPyConnection, round_id: str, as_of: datetime) -> bool:
    row = con.execute(
        "select raw.parse_ts(deadline) < ? from raw.rounds where raw.strip(round_id) = ?", [as_of, round_id]
    ).fetchone()
    return bool(row and row[0])


def summarise(summary: RunSummary) -> None:
    con = connect_quietly(summary.warehouse, read_only=True)
    try:
        summary.rounds, summary.units = con.execute(
            "select count(*), coalesce(sum(units_reported), 0) from marts.reform_round"
        ).fetchone()
        summary.examinees = con.execute("select coalesce(sum(examinees), 0) from marts.exam_round").fetchone()[0]
        summary.issues = dict(con.execute("select severity, count(*) from dq.issues group by 1").fetchall())
        for r in con.execute(
            """select r.round_id, r.units_reported, r.units_in_scope, r.units_late, e.examinees,
                      round(e.avg_score, 1), round(100 * e.pass_rate, 1), round(100 * e.excellent_rate, 1),
                      round(100 * r.online_rate_avg, 1)
               from marts.reform_round r join marts.exam_round e using (round_id) order by 1"""
        ).fetchall():
            reform = (
                f"{r[1]}/{r[2]} units reported ({r[3]} late), online availability {r[8]}% on average"
                if r[1]
                else f"0/{r[2]} units reported: no valid progress return yet"
            )
            exam = (
                f"{r[4]} examinees, average {r[5]}, pass {r[6]}%, excellent {r[7]}%"
                if r[4]
                else "no valid exam results yet"
            )
            summary.headlines.append(f"{r[0]}: {reform}; {exam}")
    finally:
        con.close()
