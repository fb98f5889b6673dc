from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT / "dags"),
        "AIRFLOW__CORE__PARALLELISM": "4",
        **extra,
    }


class AirflowHome:
    def __init__(self, home: Path):
        self.home = home

    def probe(self, *args: str, **env: str) -> dict:
        out = subprocess.run(
            [sys.executable, str(Path(__file__).parent / "airflow_probe.py"), *args],
            env=airflow_env(self.home, **env),
            capture_output=True,
            text=True,
            timeout=600,
        )
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("PROBE ")]
        assert out.returncode == 0 and lines, out.stdout[-3000:] + out.stderr[-3000:]
        return json.loads(lines[-1][6:])


def new_airflow_home(home: Path) -> AirflowHome:
    """A migrated Airflow metadata DB (SQLite) with the project's pool, in AIRFLOW_HOME `home`."""
    subprocess.run(
        [str(PROJECT / "bin" / "airflow-setup")],
        env=airflow_env(home, AIRFLOW_BIN=str(BIN / "airflow")),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return AirflowHome(home)


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory) -> AirflowHome:
    """An Airflow home shared by the tests that keep to one warehouse path per test."""
    return new_airflow_home(tmp_path_factory.mktemp("airflow_home"))


@pytest.fixture
def own_airflow_home(tmp_path) -> AirflowHome:
    """An Airflow home of the test's own: the warehouse asset's URI is the warehouse's path, so a DAG run
    for another warehouse path than an earlier run's needs its DAGs registered anew."""
    return new_airflow_home(tmp_path / "airflow_home")
