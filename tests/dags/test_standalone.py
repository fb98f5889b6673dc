"""A real scheduler: `airflow standalone` runs ingest (triggered through the REST API), then the build
DAG from the asset event, on its own AIRFLOW_HOME; every process it started is stopped afterwards."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import BIN, airflow_env
from landing_builder import Landing

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    def __init__(self, base: str):
        self.base, self.token = base, None

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(
            self.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"{}")


def wait_for(what: str, fn, timeout: float, every: float = 2.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # the server is still starting
            last = e
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def stop_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while live_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.5)


def processes() -> Iterator[tuple[int, str, int, int]]:
    """(pid, state, parent pid, process group) of every process, from /proc/<pid>/stat."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid, pgid = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except OSError:
            continue
        yield int(stat.parent.name), state, int(ppid), int(pgid)


def live_members(pgid: int) -> list[str]:
    """Processes of the group that still run (zombies, already dead and awaiting reaping, do not count)."""
    return [str(pid) for pid, state, _, group in processes() if group == pgid and state != "Z"]


def test_standalone_scheduler_runs_ingest_then_build(tmp_path):
    home = tmp_path / "airflow"
    land = Landing(tmp_path / "landing").good_round()
    wh = tmp_path / "wh" / "warehouse.duckdb"
    port = free_port()
    env = airflow_env(
        home,
        AIRFLOW_BIN=str(BIN / "airflow"),
        REFORMWATCH_LANDING=str(land.root),
        REFORMWATCH_WAREHOUSE=str(wh),
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL="5",
        REFORMWATCH_INGEST_SCHEDULE="@daily",
        PATH=f"{BIN}:{os.environ['PATH']}",
    )
    subprocess.run(
        [str(Path(__file__).parents[2] / "bin" / "airflow-setup")],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    log = open(tmp_path / "standalone.log", "w")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen(
        [str(BIN / "airflow"), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    api = Api(f"http://127.0.0.1:{port}")
    try:
        wait_for(
            "health", lambda: api.call("GET", "/api/v2/monitor/health")["scheduler"]["status"] == "healthy", timeout=180
        )
        subprocess.run(
            [str(BIN / "airflow"), "dags", "reserialize"], env=env, check=True, capture_output=True, timeout=180
        )
        pw_file = home / "simple_auth_manager_passwords.json.generated"
        password = wait_for("password file", lambda: json.loads(pw_file.read_text()).get("admin"), timeout=60)
        api.token = api.call("POST", "/auth/token", {"username": "admin", "password": password})["access_token"]
        for dag_id in ("reformwatch_ingest", "reformwatch_build"):
            wait_for(f"{dag_id} registered", lambda d=dag_id: api.call("GET", f"/api/v2/dags/{d}"), timeout=120)
            api.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        api.call("POST", "/api/v2/dags/reformwatch_ingest/dagRuns", {"logical_date": None})

        def build_done():
            runs = api.call("GET", "/api/v2/dags/reformwatch_build/dagRuns")["dag_runs"]
            failed = [r for r in runs if r["state"] == "failed"]
            assert not failed, failed
            return any(r["state"] == "success" for r in runs)

        wait_for("reformwatch_build success", build_done, timeout=420, every=3)
        con = duckdb.connect(str(wh), read_only=True)
        assert con.execute("select examinees from marts.exam_round").fetchone()[0] == 15
        assert con.execute("select count(*) from marts.reform_unit_round").fetchone()[0] == 3
        con.close()
    finally:
        stop_group(proc)
        log.close()
    assert live_members(proc.pid) == [], "airflow standalone left processes behind"


def children(pid: int) -> list[int]:
    return [child for child, _, parent, _ in processes() if parent == pid]


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_make_airflow_stops_every_process_it_started(tmp_path, how):
    """`make airflow` on Ctrl-C (SIGINT to the terminal's foreground group), and bin/airflow-standalone on
    SIGTERM (a service manager's stop): standalone's scheduler and executor children end too."""
    port = free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__PARALLELISM": "2",
        "REFORMWATCH_INGEST_SCHEDULE": "none",
        "REFORMWATCH_WAREHOUSE": str(tmp_path / "warehouse.duckdb"),
    }
    cmd = ["make", "-C", str(Path(__file__).parents[2]), "airflow"]
    log = open(tmp_path / "airflow.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    api = Api(f"http://127.0.0.1:{port}")
    try:
        wait_for(
            "health", lambda: api.call("GET", "/api/v2/monitor/health")["scheduler"]["status"] == "healthy", timeout=240
        )
        script = next(p for p in children(proc.pid) if "airflow-standalone" in Path(f"/proc/{p}/cmdline").read_text())
        standalone = children(script)[0]  # `setsid airflow standalone`: its own process group
        assert live_members(standalone)
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(script, signal.SIGTERM)
        wait_for("airflow standalone stopped", lambda: not live_members(standalone), timeout=90, every=1)
        proc.wait(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    assert live_members(standalone) == [] and live_members(proc.pid) == []
    assert "stopping airflow standalone" in (tmp_path / "airflow.log").read_text()
