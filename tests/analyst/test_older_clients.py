"""The published files open in DuckDB 1.x clients (the newest duckdb-cli on PyPI, and the 1.x Python
package), installed apart from the project's own DuckDB 2.0 (requirements-clients.txt)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from landing_builder import Landing

from reformwatch.config import PROJECT_ROOT

pytestmark = pytest.mark.slow

EXE = Path(sys.executable).with_name("reformwatch")
CLIENTS = PROJECT_ROOT / ".clients"


@pytest.fixture(scope="module")
def clients() -> Path:
    """A virtual environment with the pinned 1.x clients (created once, kept in .clients/)."""
    requirements = PROJECT_ROOT / "requirements-clients.txt"
    stamp = CLIENTS / "installed.txt"
    if not stamp.is_file() or stamp.read_text() != requirements.read_text():
        shutil.rmtree(CLIENTS, ignore_errors=True)
        venv.create(CLIENTS, with_pip=True)
        subprocess.run(
            [CLIENTS / "bin" / "python", "-m", "pip", "install", "-q", "-r", requirements], check=True, timeout=600
        )
        stamp.write_text(requirements.read_text())
    return CLIENTS / "bin"


def cli_1x(clients: Path, db: Path, sql: str) -> str:
    out = subprocess.run([clients / "duckdb", "-readonly", "-csv", str(db), "-c", sql], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_duckdb_1x_clients_read_both_published_files_after_a_success_and_a_failure(clients, tmp_path):
    land = Landing(tmp_path / "landing").good_round()
    warehouse = tmp_path / "out" / "warehouse.duckdb"
    run = [EXE, "run", "--landing", str(land.root), "--warehouse", str(warehouse), "--as-of", "2024-07-15"]
    assert subprocess.run(run, capture_output=True).returncode == 0
    analyst = warehouse.with_name("warehouse.analyst.duckdb")
    version = subprocess.run([clients / "duckdb", "--version"], capture_output=True, text=True).stdout
    assert version.startswith("v1.5"), version
    for db in (warehouse, analyst):
        assert cli_1x(clients, db, "select count(*) as n from marts.exam_unit_round").split() == ["n", "3"]
        comment = cli_1x(clients, db, "select comment from duckdb_tables() where table_name = 'exam_round'")
        assert "考试总体情况" in comment  # the data dictionary's comments come along
    python_1x = subprocess.run(
        [
            clients / "python",
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print(duckdb.__version__, con.sql('select count(*) from dq.issues').fetchone()[0])",
            str(analyst),
        ],
        capture_output=True,
        text=True,
    )
    assert python_1x.returncode == 0 and python_1x.stdout.startswith("1.5"), python_1x.stderr

    (land.root / "units.csv").write_text("unit_code,unit_name\nAAA,\n", encoding="utf-8")  # the office's slip
    assert subprocess.run(run, capture_output=True).returncode == 1  # the history is published again
    history = cli_1x(clients, warehouse, "select status from ops.pipeline_runs order by started_at")
    assert history.split() == ["status", "succeeded", "failed"]


def test_the_storage_version_is_a_setting(clients, tmp_path):
    """REFORMWATCH_STORAGE_VERSION=latest writes DuckDB 2.0's own format, which 1.x clients refuse."""
    land = Landing(tmp_path / "landing").good_round()
    warehouse = tmp_path / "w.duckdb"
    env = {**os.environ, "REFORMWATCH_STORAGE_VERSION": "latest"}
    run = [EXE, "run", "--landing", str(land.root), "--warehouse", str(warehouse), "--as-of", "2024-07-15"]
    assert subprocess.run(run, capture_output=True, env=env).returncode == 0
    out = subprocess.run([clients / "duckdb", "-readonly", str(warehouse), "-c", "select 1"], capture_output=True)
    assert out.returncode != 0 and b"newer version" in out.stderr + out.stdout
