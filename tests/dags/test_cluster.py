"""The distributed deployment for real: `make cluster` starts PostgreSQL, Redis, Airflow's api-server,
scheduler, dag-processor, triggerer and two Celery workers on this machine; the DAGs are driven through
the REST API as an operator would; `make cluster-stop` leaves nothing running.

The module shares one cluster (it takes about 40 s to start). Tests run in file order: the last one
stops the cluster and checks that no process of it is left.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import pytest
from landing_builder import AFTER_DEADLINE, Landing, exam_rows, run_pipeline, warehouse_snapshot
from test_standalone import Api, free_port, live_members, processes

from reformwatch.local_cluster import AIRFLOW_PARTS, read_env_file

pytestmark = pytest.mark.slow
PROJECT = Path(__file__).parents[2]
WRITER_QUEUE = read_env_file()["REFORMWATCH_WRITER_QUEUE"]


def running(pid: int) -> bool:
    """The process exists and is not a zombie (dead, waiting for its parent to reap it)."""
    return any(p == pid and state != "Z" for p, state, _, _ in processes())


def round_two(land: Landing) -> Landing:
    """The same landing zone, writing into round 2024-R2 (registries untouched)."""
    r2 = copy.copy(land)
    r2.round_id = "2024-R2"
    return r2


def two_round_landing(root: Path) -> Landing:
    land = Landing(root).good_round()
    with open(land.root / "rounds.csv", "a", encoding="utf-8") as f:
        f.write("2024-R2,第二轮,2024-07-10T18:00:00+08:00,45,100,30,60,90\n")
    (land.root / "2024-R2").mkdir()
    shutil.copy(land.root / "2024-R1" / "scope.csv", land.root / "2024-R2" / "scope.csv")
    r2 = round_two(land)
    r2.progress("AAA")
    r2.exam("AAA", rows=exam_rows("AAA", scores=[88, 91, 59, 100]))
    r2.progress("BBB", service_items_online=7)
    return land


def wait_for(what: str, fn, timeout: float, every: float = 2.0):
    """Poll fn until it returns something true; an AssertionError it raises fails at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Cluster:
    def __init__(self, root: Path, landing: Landing, warehouse: Path):
        self.root, self.land, self.landing, self.warehouse = root, landing, landing.root, warehouse
        self.api_port = free_port()
        self.env = {
            **os.environ,
            "REFORMWATCH_CLUSTER_DIR": str(root),
            "REFORMWATCH_CLUSTER_API_PORT": str(self.api_port),
            "REFORMWATCH_CLUSTER_PG_PORT": str(free_port()),
            "REFORMWATCH_CLUSTER_REDIS_PORT": str(free_port()),
            "REFORMWATCH_LANDING": str(landing.root),
            "REFORMWATCH_WAREHOUSE": str(warehouse),
            "REFORMWATCH_INGEST_SCHEDULE": "none",  # runs only when triggered: the tests count them
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        }
        self.api = Api(f"http://127.0.0.1:{self.api_port}")

    def make(self, target: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["make", "-C", str(PROJECT), target], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def pids(self) -> dict[str, int]:
        out = {p: int((self.root / "run" / f"{p}.pid").read_text()) for p in AIRFLOW_PARTS}
        out["redis"] = int((self.root / "run" / "redis.pid").read_text())
        out["postgres"] = int((self.root / "postgres" / "postmaster.pid").read_text().split()[0])
        return out

    def login(self) -> None:
        pw_file = self.root / "airflow_home" / "simple_auth_manager_passwords.json.generated"
        password = json.loads(pw_file.read_text())["admin"]
        self.api.token = self.api.call("POST", "/auth/token", {"username": "admin", "password": password})[
            "access_token"
        ]

    def trigger(self, dag_id: str, as_of: str = AFTER_DEADLINE) -> str:
        run = self.api.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": {"as_of": as_of}})
        return run["dag_run_id"]

    def runs(self, dag_id: str) -> list[dict]:
        return self.api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=start_date&limit=100")["dag_runs"]

    def tis(self, dag_id: str, run_id: str) -> dict[str, dict]:
        got = self.api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {t["task_id"]: t for t in got}

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 420) -> dict:
        def done():
            run = self.api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            assert run["state"] != "failed", (run, self.tis(dag_id, run_id))
            return run if run["state"] == "success" else None

        return wait_for(f"{dag_id} {run_id}", done, timeout=timeout, every=2)

    def builds_after(self, n_before: int, timeout: float = 300) -> dict:
        def new_success():
            runs = self.runs("reformwatch_build")
            assert not [r for r in runs if r["state"] == "failed"], runs
            return runs[n_before] if len(runs) > n_before and runs[n_before]["state"] == "success" else None

        return wait_for("a new reformwatch_build run", new_success, timeout=timeout, every=2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    # PostgreSQL runs as the `postgres` user when the tests run as root: its folder sits in the project
    # (as make cluster's does), where that user can reach it, not in pytest's private temp folder
    root = PROJECT / "test-artifacts" / f"cluster-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    land = two_round_landing(tmp / "landing")
    c = Cluster(root, land, tmp / "published" / "warehouse.duckdb")
    started = c.make("cluster")
    try:
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        assert f"http://127.0.0.1:{c.api_port}" in started.stdout and "user admin, password" in started.stdout
        c.login()
        yield c
    finally:
        c.make("cluster-stop", timeout=300)  # a failing test must not leave a cluster behind
        shutil.rmtree(root, ignore_errors=True)


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a socket listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(
                    socket.inet_ntop(
                        socket.AF_INET if len(address) == 8 else socket.AF_INET6,
                        bytes.fromhex(address)[::-1]
                        if len(address) == 8
                        else b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, 32, 8)),
                    )
                )
    return found


def test_every_server_listens_on_the_loopback_only(cluster):
    for key in ("REFORMWATCH_CLUSTER_API_PORT", "REFORMWATCH_CLUSTER_PG_PORT", "REFORMWATCH_CLUSTER_REDIS_PORT"):
        assert listening_addresses(int(cluster.env[key])) == {"127.0.0.1"}, key


def test_rest_trigger_runs_ingest_then_build_on_the_writer_worker(cluster, tmp_path):
    run_id = cluster.trigger("reformwatch_ingest")
    cluster.wait_run("reformwatch_ingest", run_id)
    ingest = cluster.tis("reformwatch_ingest", run_id)
    assert ingest["ingest"]["queue"] == WRITER_QUEUE and ingest["announce"]["state"] == "success"
    summary = cluster.api.call(
        "GET", f"/api/v2/dags/reformwatch_ingest/dagRuns/{run_id}/taskInstances/ingest/xcomEntries/return_value"
    )["value"]
    assert summary["needs_build"] is True

    build = cluster.builds_after(0)  # scheduled by the asset event, not triggered
    assert build["run_type"] == "asset_triggered"
    task = cluster.tis("reformwatch_build", build["dag_run_id"])["build"]
    assert task["queue"] == WRITER_QUEUE and task["pool"] == "reformwatch_duckdb"
    host = socket.gethostname()
    writer_log = (cluster.root / "logs" / "worker-writer.log").read_text()
    default_log = (cluster.root / "logs" / "worker-default.log").read_text()
    assert f"writer@{host} ready" in writer_log and f"default@{host} ready" in default_log
    assert "task_id='build', dag_id='reformwatch_build'" in writer_log  # the writer worker ran the build
    assert f"queue='{WRITER_QUEUE}'" not in default_log  # and the default worker no writer task

    run_pipeline(cluster.landing, tmp_path / "cli" / "warehouse.duckdb").close()
    assert warehouse_snapshot(cluster.warehouse) == warehouse_snapshot(tmp_path / "cli" / "warehouse.duckdb")
    con = duckdb.connect(str(cluster.warehouse), read_only=True)
    assert con.execute("select list(round_id order by round_id) from marts.exam_round").fetchone()[0] == [
        "2024-R1",
        "2024-R2",
    ]
    con.close()


def test_a_new_file_is_built_and_nothing_new_builds_nothing(cluster, tmp_path):
    builds = len(cluster.runs("reformwatch_build"))
    r2 = round_two(cluster.land)
    r2.exam("BBB", rows=exam_rows("BBB", scores=[70, 80, 90]))
    cluster.wait_run("reformwatch_ingest", cluster.trigger("reformwatch_ingest"))
    cluster.builds_after(builds)
    con = duckdb.connect(str(cluster.warehouse), read_only=True)
    assert con.execute(
        "select count(*) from marts.exam_unit_round where round_id = '2024-R2' and unit_code = 'BBB'"
    ).fetchone() == (1,)
    con.close()

    quiet = cluster.trigger("reformwatch_ingest")
    cluster.wait_run("reformwatch_ingest", quiet)
    tis = cluster.tis("reformwatch_ingest", quiet)
    assert tis["anything_new"]["state"] == "success" and tis["announce"]["state"] == "skipped"
    time.sleep(15)  # the scheduler would have queued a build by now
    assert len(cluster.runs("reformwatch_build")) == builds + 1


def test_two_triggers_at_once_run_their_writer_tasks_one_at_a_time(cluster):
    r1, r2 = cluster.trigger("reformwatch_ingest"), cluster.trigger("reformwatch_build")
    cluster.wait_run("reformwatch_ingest", r1)
    cluster.wait_run("reformwatch_build", r2)
    a = cluster.tis("reformwatch_ingest", r1)["ingest"]
    b = cluster.tis("reformwatch_build", r2)["build"]
    spans = sorted([(a["start_date"], a["end_date"]), (b["start_date"], b["end_date"])])
    assert spans[0][1] <= spans[1][0], f"writer tasks overlapped: {spans}"


def test_a_writer_worker_killed_mid_build_is_retried_and_the_result_is_right(cluster, tmp_path):
    published_analyst = cluster.warehouse.with_name("warehouse.analyst.duckdb")
    r2 = round_two(cluster.land)
    r2.exam("CCC", rows=exam_rows("CCC", scores=[66, 77, 88, 99]))
    builds = {r["dag_run_id"] for r in cluster.runs("reformwatch_build")}
    cluster.wait_run("reformwatch_ingest", cluster.trigger("reformwatch_ingest"))  # announces the new file

    def new_build():
        return next((r["dag_run_id"] for r in cluster.runs("reformwatch_build") if r["dag_run_id"] not in builds), None)

    run_id = wait_for("the asset-triggered build", new_build, timeout=120, every=0.5)
    reads, stop = [], threading.Event()

    def read_analysts_file():  # analysts keep querying the published file throughout
        while not stop.is_set():
            con = duckdb.connect(str(published_analyst), read_only=True)
            reads.append(con.execute("select count(*) from marts.exam_unit_round").fetchone()[0])
            con.close()
            time.sleep(0.2)

    reader = threading.Thread(target=read_analysts_file)
    reader.start()
    try:
        wait_for(
            "the build task running",
            lambda: cluster.tis("reformwatch_build", run_id)["build"]["state"] == "running",
            timeout=180,
            every=0.5,
        )
        writer = cluster.pids()["worker-writer"]
        os.killpg(writer, signal.SIGKILL)  # the worker, its pool and the task: as if the host died
        wait_for("the writer worker gone", lambda: not live_members(writer), timeout=30, every=0.5)
        restarted = subprocess.run(
            [str(PROJECT / ".venv" / "bin" / "python"), "-m", "reformwatch.local_cluster", "start"],
            env=cluster.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert restarted.returncode == 0, restarted.stdout[-2000:] + restarted.stderr[-2000:]
        run = cluster.wait_run("reformwatch_build", run_id, timeout=600)
    finally:
        stop.set()
        reader.join()
    assert run["state"] == "success"
    assert cluster.tis("reformwatch_build", run_id)["build"]["try_number"] >= 2
    assert reads and all(n >= 1 for n in reads)  # readable at every moment
    assert len(cluster.runs("reformwatch_build")) == len(builds) + 1
    run_pipeline(cluster.landing, tmp_path / "cli" / "warehouse.duckdb").close()
    assert warehouse_snapshot(cluster.warehouse) == warehouse_snapshot(tmp_path / "cli" / "warehouse.duckdb")


def test_cluster_stop_leaves_no_process(cluster):
    pids = cluster.pids()
    assert all(running(pid) for pid in pids.values())
    stopped = cluster.make("cluster-stop", timeout=300)
    assert stopped.returncode == 0, stopped.stderr
    assert {name: pid for name, pid in pids.items() if running(pid)} == {}
    assert {name: live_members(pid) for name, pid in pids.items() if live_members(pid)} == {}  # their children
    assert not list((cluster.root / "run").glob("*.pid"))
