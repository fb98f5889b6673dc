"""Fault injection: a refresh killed with SIGKILL at each phase leaves the published warehouse as it was;
the next run completes without manual clean-up and equals a run that never crashed; raw history stays."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from landing_builder import CONTRACT_TABLES, rows, run_pipeline, warehouse_snapshot

from reformwatch.config import SAMPLE_LANDING, Settings

EXE = Path(sys.executable).parent / "reformwatch"
TABLES = (*CONTRACT_TABLES, "marts.unit_round_sources")


def cli_run(landing: Path, wh: Path, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "TMPDIR": str(wh.parent / "tmp")}  # the run's scratch, for the test to see
    (wh.parent / "tmp").mkdir(exist_ok=True)
    env.pop("REFORMWATCH_CRASH_AT", None)
    if crash_at:
        env["REFORMWATCH_CRASH_AT"] = crash_at
    return subprocess.run(
        [str(EXE), "run", "--landing", str(landing), "--warehouse", str(wh), "--as-of", "2018-10-15"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def resubmit(landing: Path) -> None:
    """Something new lands: a corrected AIC return (version 2)."""
    src = landing / "2018-R1" / "progress" / "AIC.csv"
    (landing / "2018-R1" / "progress" / "AIC__v2.csv").write_text(
        src.read_text(encoding="utf-8").replace(",12,500,455,", ",14,500,400,"), encoding="utf-8"
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The warehouse of a run that never crashed, on the final landing zone."""
    root = tmp_path_factory.mktemp("reference")
    shutil.copytree(SAMPLE_LANDING, root / "landing")
    resubmit(root / "landing")
    run_pipeline(root / "landing", root / "w.duckdb", as_of="2018-10-15").close()
    return warehouse_snapshot(root / "w.duckdb", TABLES)


@pytest.mark.parametrize("phase", ["load", "dbt", "checks", "publish"])
def test_sigkill_at_each_phase(tmp_path, reference, phase):
    landing, wh = tmp_path / "landing", tmp_path / "w.duckdb"
    shutil.copytree(SAMPLE_LANDING, landing)
    assert cli_run(landing, wh).returncode == 0
    published = wh.read_bytes()
    con = duckdb.connect(str(Settings(warehouse=wh).work_db), read_only=True)
    history = rows(con, "select file_id, path, sha256 from raw.files order by file_id")
    con.close()

    resubmit(landing)
    crashed = cli_run(landing, wh, crash_at=phase)
    assert crashed.returncode == -9, crashed.stdout + crashed.stderr
    assert wh.read_bytes() == published  # analysts still see the previous, complete version
    assert list((tmp_path / "tmp").glob("reformwatch-*"))  # a SIGKILL skips every clean-up

    again = cli_run(landing, wh)
    assert again.returncode == 0, again.stderr
    assert warehouse_snapshot(wh, TABLES) == reference
    con = duckdb.connect(str(Settings(warehouse=wh).work_db), read_only=True)
    after = rows(con, "select file_id, path, sha256 from raw.files order by file_id")
    con.close()
    assert after[: len(history)] == history  # nothing loaded before was lost
    assert any(r["path"].endswith("AIC__v2.csv") for r in after)
    assert not list(tmp_path.glob(".w.duckdb.publishing*"))  # no stale half-published file left
    assert not list((tmp_path / "tmp").glob("reformwatch-*"))  # the killed run's scratch was removed
