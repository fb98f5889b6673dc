"""The installed `reformwatch` command: help, exit codes and the summary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from landing_builder import Landing

EXE = Path(sys.executable).parent / "reformwatch"


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(EXE), *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=300
    )


def test_help_lists_commands():
    out = cli("--help")
    assert out.returncode == 0 and "run" in out.stdout
    run_help = cli("run", "--help").stdout
    for opt in ("--landing", "--warehouse", "--as-of", "REFORMWATCH_LANDING"):
        assert opt in run_help


def test_missing_landing_zone_exits_nonzero(tmp_path):
    out = cli("run", "--landing", str(tmp_path / "nope"), "--warehouse", str(tmp_path / "w.duckdb"))
    assert out.returncode == 1 and "does not exist" in out.stderr and "Traceback" not in out.stderr


def test_unreadable_units_csv_exits_nonzero(tmp_path):
    land = Landing(tmp_path / "landing").good_round()
    (land.root / "units.csv").write_bytes(b"\x00\x01\x02garbage")
    out = cli("run", "--landing", str(land.root), "--warehouse", str(tmp_path / "w.duckdb"))
    assert out.returncode == 1 and "units.csv" in out.stderr and "Traceback" not in out.stderr


def test_bad_as_of_exits_nonzero(tmp_path):
    out = cli("run", "--as-of", "next tuesday", "--warehouse", str(tmp_path / "w.duckdb"))
    assert out.returncode == 1 and "--as-of" in out.stderr


@pytest.mark.slow
def test_run_prints_progress_and_summary_with_env_defaults(tmp_path):
    land = Landing(tmp_path / "landing").good_round()
    wh = tmp_path / "out" / "w.duckdb"
    out = cli(
        "run", "--as-of", "2024-07-15", env={"REFORMWATCH_LANDING": str(land.root), "REFORMWATCH_WAREHOUSE": str(wh)}
    )
    assert out.returncode == 0, out.stderr
    assert "ingest:" in out.stdout and "build:" in out.stdout
    for word in (
        "rounds      1",
        "    2024-R1: 3/3 units reported",
        "; 15 examinees",
        "0 error(s), 0 warning(s)",
        str(wh),
    ):
        assert word in out.stdout
    assert wh.is_file()
    again = cli(
        "run", "--as-of", "2024-07-15", env={"REFORMWATCH_LANDING": str(land.root), "REFORMWATCH_WAREHOUSE": str(wh)}
    )
    assert again.returncode == 0 and "nothing new" in again.stdout


def test_run_starts_the_dbt_worker_before_importing_the_pipeline(tmp_path):
    """dbt's import in the worker is a run's longest fixed cost: `run` starts the worker before its own
    imports and hands it to the pipeline, which starts no second one (here the run then fails early)."""
    probe = f"""
import sys
from reformwatch import cli, dbt_worker

started = []

class Recording(dbt_worker.DbtWorker):
    def __init__(self, *args, **kwargs):
        started.append("reformwatch.pipeline" in sys.modules)
        super().__init__(*args, **kwargs)

dbt_worker.DbtWorker = Recording
code = cli.main(["run", "--landing", {str(tmp_path / "nope")!r}, "--warehouse", {str(tmp_path / "w.duckdb")!r}])
print(code, started)
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "1 [False]", out.stderr[-2000:]


def test_sql_into_a_closed_pipe_stops_quietly(tmp_path):
    """`reformwatch sql ... | head`: when the reader goes, the command stops without a traceback."""
    import duckdb

    warehouse = tmp_path / "w.duckdb"
    duckdb.connect(str(warehouse)).close()
    proc = subprocess.Popen(
        [str(EXE), "sql", "--warehouse", str(warehouse), "select * from range(500000)"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0 and b"Traceback" not in err, err
