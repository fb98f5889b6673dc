"""What keeping dbt and GX imported between runs could save at best: an experiment, run by hand.

A daemon that keeps dbt and Great Expectations imported (as Gradle's keeps the JVM warm) would give
each run workers that are ready at once. This measures the best case before anyone builds one: one
unit resubmits (bench/run.py's `resubmit`) into an already built warehouse, and the run is timed
alternately

- as `reformwatch run` does it: the dbt and checks workers start with the run and import meanwhile;
- with both workers started `--wait` seconds before the clock starts, so their imports (and dbt's
  parse) are done.

Both run in this process, so neither counts an interpreter's start. Each run's resubmitted file is
removed afterwards (the next run sees it gone, as after a withdrawn file).

    python bench/warm_workers.py bench/.data/L WAREHOUSE.duckdb --pairs 2
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import resubmit  # noqa: E402 - beside this script

from reformwatch.config import Settings  # noqa: E402
from reformwatch.dbt_worker import DbtWorker  # noqa: E402
from reformwatch.pipeline import parse_as_of, run  # noqa: E402
from reformwatch.quality_worker import CheckpointWorker  # noqa: E402


def timed_resubmission(settings: Settings, as_of: str, version: int, warm_s: float | None) -> float:
    """Seconds of one run after one unit resubmits; `warm_s`: start the workers that long before."""
    new = resubmit(settings.landing, version)
    try:
        with contextlib.ExitStack() as stack:  # leaving it waits for the checks worker's Data Docs, as a run does
            t0 = time.perf_counter()
            dbt = stack.enter_context(DbtWorker(settings.work_db, settings.work_dir))
            checks = None
            if warm_s is not None:
                checks = stack.enter_context(CheckpointWorker())
                time.sleep(warm_s)
                t0 = time.perf_counter()
            run(settings, parse_as_of(as_of), say=lambda _: None, dbt=dbt, checks=checks)
        return time.perf_counter() - t0
    finally:
        new.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("landing", type=Path, help="a landing zone already built into WAREHOUSE (e.g. bench/.data/L)")
    ap.add_argument("warehouse", type=Path, help="the warehouse built from it (its work files beside it)")
    ap.add_argument("--pairs", type=int, default=2, help="pairs of runs, one of each kind (default 2)")
    ap.add_argument("--wait", type=float, default=8.0, help="seconds the warm workers get to import (default 8)")
    ap.add_argument("--as-of", default="2030-01-01", help="the run's as-of date (default: after every deadline)")
    args = ap.parse_args()
    if not args.warehouse.is_file():  # else the first run would be a cold build, timed as a resubmission
        ap.error(
            f"{args.warehouse} does not exist: build it first with "
            f"reformwatch run --landing {args.landing} --warehouse {args.warehouse} --as-of {args.as_of}"
        )
    settings = dataclasses.replace(Settings(), landing=args.landing, warehouse=args.warehouse)
    version = 50
    for pair in range(1, args.pairs + 1):
        for label, warm in (("workers start with the run", None), ("workers already imported", args.wait)):
            version += 1
            seconds = timed_resubmission(settings, args.as_of, version, warm)
            print(f"pair {pair}: {label:28} {seconds:5.2f} s", flush=True)


if __name__ == "__main__":
    main()
