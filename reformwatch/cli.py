"""Command line: `reformwatch run|...`."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path

from . import __version__
from .config import Settings
from .contract import KINDS
from .safe_text import terminal

log = logging.getLogger("reformwatch")


def _say(msg: str) -> None:
    print(f"[reformwatch] {msg}", flush=True)


def _settings(args: argparse.Namespace) -> Settings:
    s = Settings()
    kw = {}
    if getattr(args, "landing", None):
        kw["landing"] = Path(args.landing)
    if getattr(args, "warehouse", None):
        kw["warehouse"] = Path(args.warehouse)
    return Settings(**{**s.__dict__, **kw})


def cmd_run(args: argparse.Namespace) -> int:
    from .dbt_worker import DbtWorker

    settings = _settings(args)
    # dbt's import in the worker is the longest fixed cost of a run: it starts before the pipeline's own
    # imports (about 0.2 s), which a small run would otherwise wait for. Until the run holds the refresh
    # lock and asks for a build, the worker only parses the project, in a target folder of its own.
    with DbtWorker(settings.work_db, settings.work_dir) as dbt:
        from .dbt_runner import DbtError
        from .pipeline import PipelineError, parse_as_of, run
        from .prep_worker import PrepError
        from .publish import LockTimeout
        from .quality import ChecksError
        from .registry import RegistryError

        try:
            s = run(settings, parse_as_of(args.as_of), say=_say, dbt=dbt)
        except (PipelineError, RegistryError, PrepError, DbtError, ChecksError, LockTimeout) as e:
            print(f"reformwatch run: error: {e}", file=sys.stderr)
            return 1
    errors, warnings = s.issues.get("error", 0), s.issues.get("warning", 0)
    print(
        "\nsummary\n"
        f"  rounds      {s.rounds}\n"
        f"  issues      {errors} error(s), {warnings} warning(s)   (select * from dq.issues)\n"
        f"  warehouse   {s.warehouse.resolve()}\n"
        f"  as of       {s.as_of.isoformat(timespec='seconds')}"
        + (f"\n  data docs   {s.data_docs}" if s.data_docs else "")
        + "".join(f"\n  bulletin    {settings.reports_dir / r / 'bulletin.html'}" for r in s.reports)
    )
    if s.headlines:
        print("  by round (units and examinees with valid results)")
    for line in s.headlines:
        print(f"    {line}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import duckdb

    from .report import refresh_reports, write_report

    settings = _settings(args)
    reports = Path(args.out) if args.out else settings.reports_dir
    if not settings.warehouse.is_file():
        print(
            f"reformwatch report: error: no warehouse at {settings.warehouse}; run `reformwatch run` first",
            file=sys.stderr,
        )
        return 1
    try:
        if args.round:
            path = write_report(settings.warehouse, args.round, reports, settings.work_db)
            print(f"bulletin: {path}")
            print(f"markdown: {path.with_suffix('.md')}")
            print(f"unit files: {path.parent / 'units'}")
        else:
            for r in refresh_reports(settings.warehouse, reports, settings.work_db, force=True):
                print(f"bulletin: {reports / r / 'bulletin.html'}")
    except (LookupError, duckdb.Error) as e:
        print(f"reformwatch report: error: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb

    from .analyst import run_sql, shell

    settings = _settings(args)
    try:
        if args.query:
            run_sql(settings.warehouse, args.query, as_csv=args.csv)
        elif not sys.stdin.isatty():
            run_sql(settings.warehouse, sys.stdin.read(), as_csv=args.csv)
        else:
            return shell(settings.warehouse, as_csv=args.csv)
    except (FileNotFoundError, duckdb.Error) as e:
        print(f"reformwatch sql: error: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from .analyst import status

    settings = _settings(args)
    return status(settings.warehouse, settings.work_dir, limit=args.runs)


def cmd_docs(args: argparse.Namespace) -> int:
    import functools
    import http.server

    from .dbt_runner import DbtError
    from .dbt_worker import run_dbt
    from .publish import LockTimeout, refresh_lock

    settings = _settings(args)
    if not settings.work_db.is_file():
        print(
            f"reformwatch docs: error: no work database at {settings.work_db}; run `reformwatch run` first",
            file=sys.stderr,
        )
        return 1
    try:
        with refresh_lock(settings.lock_file, settings.lock_timeout_s, _say):
            _say("dbt docs generate ...")
            run_dbt(["docs", "generate"], settings.work_db, settings.work_dir)
    except (DbtError, LockTimeout) as e:
        print(f"reformwatch docs: error: {e}", file=sys.stderr)
        return 1
    site = settings.work_dir / "dbt_target"
    print(f"data dictionary: {site / 'index.html'}")
    if args.no_serve:
        return 0
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as httpd:
        print(f"serving on http://127.0.0.1:{httpd.server_address[1]}/  (Ctrl-C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            httpd.serve_forever()
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from .synth import synth

    try:
        res = synth(
            Path(args.out), args.units, args.examinees_per_unit, args.rounds, args.fault_rate, args.seed, progress=_say
        )
    except (FileExistsError, ValueError) as e:
        print(f"reformwatch synth: error: {e}", file=sys.stderr)
        return 1
    print(
        f"landing zone {res.out}: {res.rounds} round(s), {res.units} units, {res.files} files, {res.rows} rows; "
        f"{len(res.faults)} planted issue(s) listed in {res.out / 'faults.json'}"
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .report import CHECK_ZH
    from .submission_check import CheckError, check

    settings = _settings(args)
    files = [Path(f) for f in args.files]
    try:
        problems = check(files, settings.landing, args.round, args.kind)
    except CheckError as e:
        print(f"reformwatch check: error: {e}", file=sys.stderr)
        return 2
    for f in files:
        mine = [p for p in problems if p.file == str(f)]
        errors = [p for p in mine if p.severity == "error"]
        verdict = "被退回 / would be rejected" if errors else "可以报送 / would be accepted"
        print(f"{f}: {verdict}" + (f" ({len(errors)} error(s), {len(mine) - len(errors)} warning(s))" if mine else ""))
        for p in mine:
            where = f"row {p.row}" if p.row is not None else "file"
            label = CHECK_ZH.get(p.check_name, p.check_name)
            print(f"  {p.severity:<7} {where:<8} {label} ({p.check_name}): {terminal(p.detail)}")
    return 1 if any(p.severity == "error" for p in problems) else 0


def cmd_export(args: argparse.Namespace) -> int:
    from .export import ExportError, export

    settings = _settings(args)
    try:
        written = export(settings.analyst_warehouse, Path(args.out), args.format, args.round)
    except ExportError as e:
        print(f"reformwatch export: error: {e}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="reformwatch",
        description="Inspection-campaign data pipeline: landing zone -> DuckDB warehouse (marts.*, dq.issues).",
    )
    p.add_argument("--version", action="version", version=f"reformwatch {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser(
        "run",
        help="ingest the landing zone, build the marts and checks, publish the warehouse",
        description="Ingest new or changed landing files, run dbt (staging, intermediate, marts, dq) and "
        "publish the warehouse atomically. Exits 0 when the pipeline ran (data-quality issues are results, "
        "in dq.issues), 1 when it could not run.",
    )
    r.add_argument(
        "--landing", metavar="DIR", help="landing zone (default: $REFORMWATCH_LANDING or the bundled sample)"
    )
    r.add_argument(
        "--warehouse",
        metavar="FILE",
        help="DuckDB file to publish (default: $REFORMWATCH_WAREHOUSE or data/warehouse.duckdb)",
    )
    r.add_argument(
        "--as-of",
        metavar="TIMESTAMP",
        help="ISO 8601 instant deciding whether deadlines have passed (default: now; no offset = Asia/Shanghai)",
    )
    r.set_defaults(func=cmd_run)

    rep = sub.add_parser(
        "report",
        help="write a round's bulletin (Markdown + HTML with charts) and per-unit feedback files",
        description="Write reports/<round_id>/bulletin.md and bulletin.html (Chinese, figures from the marts, "
        "charts embedded) and reports/<round_id>/units/<unit_code>.csv (each unit's own examinees). "
        "`reformwatch run` does this automatically for every round that changed.",
    )
    rep.add_argument("--round", metavar="ROUND_ID", help="the round (default: every round)")
    rep.add_argument("--warehouse", metavar="FILE", help="published warehouse (default: as for run)")
    rep.add_argument("--out", metavar="DIR", help="reports folder (default: $REFORMWATCH_REPORTS or reports/)")
    rep.set_defaults(func=cmd_report)

    q = sub.add_parser(
        "sql",
        help="query the published warehouse read-only (one query, or an interactive shell)",
        description="Run QUERY against the published warehouse (read-only; works during a refresh) and print "
        "a table, or CSV with --csv. Without QUERY: SQL from standard input, or an interactive shell.",
    )
    q.add_argument("query", nargs="?", metavar="QUERY", help='SQL to run, e.g. "select * from marts.exam_round"')
    q.add_argument("--csv", action="store_true", help="print CSV (header + rows) instead of a table")
    q.add_argument("--warehouse", metavar="FILE", help="published warehouse (default: as for run)")
    q.set_defaults(func=cmd_sql)

    st = sub.add_parser(
        "status",
        help="latest runs, rounds with deadlines and units reported/late/missing, last error",
        description="Show the run history and the rounds. Exit code 1 when the last run failed (or none ran): "
        "usable by monitoring.",
    )
    st.add_argument("--warehouse", metavar="FILE", help="published warehouse (default: as for run)")
    st.add_argument("--runs", type=int, default=10, metavar="N", help="how many runs to show (default 10)")
    st.set_defaults(func=cmd_status)

    d = sub.add_parser(
        "docs",
        help="build the data dictionary (dbt docs) and serve it locally",
        description="Generate dbt docs (models, columns, tests, lineage graph) for the work database and serve "
        "them on http://127.0.0.1:PORT/.",
    )
    d.add_argument("--warehouse", metavar="FILE", help="published warehouse (default: as for run)")
    d.add_argument("--port", type=int, default=8081, help="port to serve on (default 8081; 0 = any free port)")
    d.add_argument("--no-serve", action="store_true", help="only generate; print where index.html is")
    d.set_defaults(func=cmd_docs)

    ck = sub.add_parser(
        "check",
        help="check submission files before they land, with the pipeline's own checks (nothing is written)",
        description="Check each FILE as the pipeline would: its name, encoding, header, rows and values, "
        "against the registries of the landing zone (units.csv, rounds.csv, the round's scope.csv). Nothing "
        "is written to the landing zone, the warehouse or the reports. Exit 0 when every file would be "
        "accepted (warnings are listed), 1 when a file or row has an error (listed with what to fix), 2 "
        "when the check cannot run.",
    )
    ck.add_argument("files", nargs="+", metavar="FILE", help="progress returns or exam sheets (.csv or .xlsx)")
    ck.add_argument("--landing", metavar="DIR", help="landing zone with the registries (default: as for run)")
    ck.add_argument(
        "--round",
        metavar="ROUND_ID",
        help="the round (default: the FILE's folder <round>/<kind>/ if it has one, else the latest deadline)",
    )
    ck.add_argument(
        "--kind",
        choices=KINDS,
        help="the kind of file (default: its folder, else exam when its header names examinee_id)",
    )
    ck.set_defaults(func=cmd_check)

    ex = sub.add_parser(
        "export",
        help="write the analysts' tables (marts, dq.issues) as xlsx, csv or parquet for Excel and BI tools",
        description="Export the analysts' copy of the warehouse (every mart and dq.issues; no individual's "
        "data) of one round or of all: xlsx (one sheet per table, Chinese column headers from the data "
        "dictionary, times in Shanghai time), csv (one UTF-8 file with BOM per table) or parquet. Text that "
        "a spreadsheet would run as a formula is written as text.",
    )
    ex.add_argument("--round", metavar="ROUND_ID", help="the round (default: every round)")
    ex.add_argument("--format", choices=["xlsx", "csv", "parquet"], default="xlsx", help="(default: xlsx)")
    ex.add_argument("--out", required=True, metavar="DIR", help="folder to write into (created if missing)")
    ex.add_argument("--warehouse", metavar="FILE", help="published warehouse (default: as for run)")
    ex.set_defaults(func=cmd_export)

    sy = sub.add_parser(
        "synth",
        help="write a synthetic contract landing zone of any size (for tests and benchmarks)",
        description="Write a landing zone with N units and R examinees per unit for K rounds, deterministic for "
        "a seed: mostly UTF-8 CSV, some GB18030 and XLSX files, some resubmissions, and a share of units with "
        "one planted fault each, listed in DIR/faults.json with the issues they must raise.",
    )
    sy.add_argument("--units", type=int, required=True, metavar="N", help="units in units.csv and in every round")
    sy.add_argument("--examinees-per-unit", type=int, required=True, metavar="R", help="rows of each unit's exam sheet")
    sy.add_argument("--rounds", type=int, default=1, metavar="K", help="rounds, one folder each (default: 1)")
    sy.add_argument("--out", required=True, metavar="DIR", help="an empty or new folder")
    sy.add_argument(
        "--fault-rate",
        type=float,
        default=0.05,
        metavar="F",
        help="share of units with one planted fault in each round, 0 to 1 (default: 0.05)",
    )
    sy.add_argument("--seed", type=int, default=1, metavar="S", help="the same seed writes the same files (default: 1)")
    sy.set_defaults(func=cmd_synth)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader of the output has gone (e.g. `reformwatch sql ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # as Python's docs advise for SIGPIPE
        return 0


if __name__ == "__main__":
    sys.exit(main())
