"""The refresh, phase by phase; the CLI and the Airflow DAGs call these same functions."""

from __future__ import annotations

import contextlib
import hashlib
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
from .config import Settings, connect_quietly, connect_work_db
from .dbt_worker import DbtWorker
from .fingerprint import code_fingerprint
from .ingest import IngestResult, ensure_schema, ingest
from .progress import Throttled
from .publish import LockTimeout, Staged, complete, refresh_lock, stage
from .quality import store_results
from .quality_worker import CheckpointWorker
from .registry import load_registries, registry_fingerprint
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


STATE_DDL = """create table if not exists raw.build_state (
    landed_signature varchar,      -- what the last ingest found: files, registries, deadlines passed, code
    built_signature varchar,       -- the landed_signature of the last successful build
    built_basis varchar,           -- the code_fingerprint the models were last built with; NULL: full refresh
    registry_fingerprint varchar   -- the registry files raw.units, raw.rounds and raw.scope were loaded from
)"""


def _connect_work(settings: Settings) -> duckdb.DuckDBPyConnection:
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    con = connect_work_db(settings.work_db)
    ensure_schema(con)
    con.execute(STATE_DDL)
    if con.execute("select count(*) from raw.build_state").fetchone()[0] == 0:
        con.execute("insert into raw.build_state values (null, null, null, null)")
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
            loaded = con.execute("select registry_fingerprint from raw.build_state").fetchone()[0]
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
            registries = registry_fingerprint(landing, registry.rounds)  # the code's fingerprint included
            signature = hashlib.sha256("|".join([result.landed_signature, registries, *passed]).encode()).hexdigest()
            con.execute(
                "update raw.build_state set landed_signature = ?, registry_fingerprint = ?", [signature, registries]
            )
            built = con.execute("select built_signature from raw.build_state").fetchone()[0]
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
        basis = code_fingerprint()
        con = _connect_work(settings)
        try:
            pending, built_basis = con.execute("select landed_signature, built_basis from raw.build_state").fetchone()
            # Until this build succeeds, the next one is a full refresh: no file is left half processed.
            con.execute("begin")
            con.execute("update raw.build_state set built_basis = null")
            con.execute("delete from raw.run_params")
            con.execute("insert into raw.run_params values (?)", [as_of])
            con.execute("commit")
        finally:
            con.close()
        with contextlib.ExitStack() as own:  # a worker started here is stopped (Data Docs waited for) here
            if checks is None:
                checks = own.enter_context(CheckpointWorker())
            _dbt_build(settings, dbt, full_refresh=basis != built_basis, summary=summary, say=say)
            con = _connect_work(settings)
            try:
                con.execute("update raw.build_state set built_basis = ?", [basis])
            finally:
                con.close()
            _crash_point("checks")
            staged = _run_checks(settings, checks, summary, say)
            _publish_and_report(settings, summary, say, staged)
        con = _connect_work(settings)
        try:
            con.execute("update raw.build_state set built_signature = ?", [pending])
        finally:
            con.close()


def dbt_build_args(full_refresh: bool) -> list[str]:
    """The pipeline's `dbt build` arguments: models, seed and data tests."""
    args = ["build", "--exclude-resource-type", "unit_test", "--no-write-json"]  # the log has the results
    return args + (["--full-refresh"] if full_refresh else [])


def _dbt_build(settings: Settings, dbt: DbtWorker, full_refresh: bool, summary: RunSummary, say: Say) -> None:
    """dbt build of models, seed and data tests: a full refresh when the code changed since the last
    successful build (or that build failed), else incremental (the per-file models process new files)."""
    t1 = time.perf_counter()
    how = "full refresh: first build, new code, or the last build failed" if full_refresh else "incremental"
    say(f"build: dbt build (staging -> intermediate -> marts, dq; {how}) ...")
    _crash_point("dbt")
    said = Throttled(say)
    res = dbt.run(
        dbt_build_args(full_refresh),
        progress=lambda done, total: said.timed(lambda: f"build: {done} of {total} dbt nodes done"),
    )
    summary.phases["dbt"] = time.perf_counter() - t1
    say(f"build: {res.nodes} dbt nodes ok ({summary.phases['dbt']:.1f} s)")


def _run_checks(settings: Settings, checks: CheckpointWorker, summary: RunSummary, say: Say) -> Staged:
    """Great Expectations suites into dq; raise QualityGateError (nothing published) when a marts suite failed.

    While the checks worker validates, the tables the checks do not write are copied into the new
    published file(s) (publish.stage), and new rounds' unit feedback files are written ahead; all only
    read the work database. Returns that staged publication.
    """
    t_gx = time.perf_counter()
    say("checks: Great Expectations suites (raw warns, marts fails the run) ...")
    checks.start(settings.work_db, settings.gx_dir, settings.data_docs_dir)
    # the feedback thread is joined before the work database is written
    with _unit_feedback_ahead(settings, say=say) as feedback:
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
    say(
        f"checks: {len(quality.rows)} expectations, {len(quality.failed)} failed "
        f"({summary.phases['checks']:.1f} s); Data Docs: {quality.docs_index}"
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
def _unit_feedback_ahead(settings: Settings, say: Say = log.info) -> Iterator[_Ahead]:
    """Write the unit feedback folders of new rounds (report.prepare_unit_feedback) in a thread while the
    checks run: both only read the work database, and at a national scale the 100,000 files took as long
    as the checks. Nothing is renamed into place before the run publishes. Leaving the block waits for
    the thread; a failure there is logged (the report phase then writes the files) and marks `failed`;
    a failure in the block removes what the thread wrote. A long write says its progress
    (progress.Throttled)."""
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

    thread = threading.Thread(target=prepare, name="unit-feedback-ahead")
    thread.start()
    try:
        yield ahead
    except BaseException:  # nothing is published: neither are the files written ahead
        thread.join()
        discard_prepared_feedback(settings.reports_dir)
        raise
    thread.join()


def _publish_and_report(settings: Settings, summary: RunSummary, say: Say, staged: Staged) -> None:
    """Record the run, complete the staged publication of marts/dq/ops (and the analysts' copy),
    regenerate changed bulletins."""
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
    summary.reports = refresh_reports(settings.warehouse, settings.reports_dir, settings.work_db)
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
    PipelineError (and subclasses), RegistryError, PrepError, DbtError, ChecksError or LockTimeout
    when it cannot run.
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
