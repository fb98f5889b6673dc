"""`make cluster`: the topology of docker-compose.yml on one machine, as separate processes.

PostgreSQL (Airflow's metadata database, a cluster made by initdb in the state folder), Redis (the
Celery broker), and Airflow's api-server, scheduler, dag-processor, triggerer and two Celery workers:
`writer` consumes the DuckDB writer queue with concurrency 1, `default` the default queue. Every server
listens on 127.0.0.1 only (REFORMWATCH_CLUSTER_HOST opens the API server to the network). Settings come
from deploy/airflow.env, the file docker-compose.yml reads too; secrets are generated on first start
into <state>/secrets.env.

    python -m reformwatch.local_cluster start|stop|status|env

The state folder (REFORMWATCH_CLUSTER_DIR, default <project>/cluster) holds the databases, logs, pid
files and AIRFLOW_HOME. `start` is idempotent: it starts what is not running and waits until every
part is healthy; `stop` stops every process it started and waits for them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .config import PROJECT_ROOT, SAMPLE_LANDING

ENV_FILE = PROJECT_ROOT / "deploy" / "airflow.env"
AIRFLOW_PARTS = ("api-server", "scheduler", "dag-processor", "triggerer", "worker-writer", "worker-default")
STOP_WAIT_S = 40.0


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    """KEY=VALUE lines (comments and blank lines skipped), as docker compose reads an env_file."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class Cluster:
    root: Path
    api_port: int
    pg_port: int
    redis_port: int
    host: str

    @classmethod
    def from_env(cls) -> Cluster:
        e = os.environ
        return cls(
            root=Path(e.get("REFORMWATCH_CLUSTER_DIR", PROJECT_ROOT / "cluster")).resolve(),
            api_port=int(e.get("REFORMWATCH_CLUSTER_API_PORT", "8080")),
            pg_port=int(e.get("REFORMWATCH_CLUSTER_PG_PORT", "54329")),
            redis_port=int(e.get("REFORMWATCH_CLUSTER_REDIS_PORT", "63799")),
            host=e.get("REFORMWATCH_CLUSTER_HOST", "127.0.0.1"),
        )

    # folders
    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pgdata(self) -> Path:
        return self.root / "postgres"

    @property
    def airflow_home(self) -> Path:
        return self.root / "airflow_home"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def secrets(self) -> dict[str, str]:
        """Passwords and keys, made once and kept in <root>/secrets.env (mode 600)."""
        path = self.root / "secrets.env"
        if not path.is_file():
            from cryptography.fernet import Fernet

            self.root.mkdir(parents=True, exist_ok=True)
            values = {
                "POSTGRES_PASSWORD": secrets.token_urlsafe(18),
                "REDIS_PASSWORD": secrets.token_urlsafe(18),
                "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            }
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.writelines(f"{k}={v}\n" for k, v in values.items())
        return read_env_file(path)

    def environment(self) -> dict[str, str]:
        """The environment of every Airflow process (and of the `airflow` CLI against this cluster)."""
        return self.environment_from(read_env_file(), self.secrets(), dict(os.environ))

    def environment_from(self, shared: dict[str, str], s: dict[str, str], base: dict[str, str]) -> dict[str, str]:
        """deploy/airflow.env's settings, overridden by the caller's environment (as compose's
        `environment:` overrides its env_file), plus this cluster's addresses and secrets."""
        user, db = shared["POSTGRES_USER"], shared["POSTGRES_DB"]
        pg = f"{user}:{s['POSTGRES_PASSWORD']}@127.0.0.1:{self.pg_port}/{db}"
        return {
            **shared,
            **base,
            "AIRFLOW__CORE__FERNET_KEY": s["AIRFLOW__CORE__FERNET_KEY"],
            "AIRFLOW__API_AUTH__JWT_SECRET": s["AIRFLOW__API_AUTH__JWT_SECRET"],
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{pg}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg://{pg}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://:{s['REDIS_PASSWORD']}@127.0.0.1:{self.redis_port}/0",
            "AIRFLOW__API__HOST": self.host,
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "REFORMWATCH_LANDING": base.get("REFORMWATCH_LANDING", str(SAMPLE_LANDING)),
            "REFORMWATCH_WAREHOUSE": base.get("REFORMWATCH_WAREHOUSE", str(PROJECT_ROOT / "data" / "warehouse.duckdb")),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}",
        }

    def admin_password(self) -> str | None:
        path = self.airflow_home / "simple_auth_manager_passwords.json.generated"
        with contextlib.suppress(OSError, ValueError):
            return json.loads(path.read_text())["admin"]
        return None


def _say(msg: str) -> None:
    print(f"[cluster] {msg}", flush=True)


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise SystemExit("PostgreSQL is not installed: run bin/install-cluster-deps (make cluster does)")
    return str(found[-1])


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its programs as the package's `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _state(pid: int) -> tuple[str, int] | None:
    """(state, process group) of a process, from /proc/<pid>/stat; None when there is none."""
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
        return fields[0], int(fields[2])
    return None


def _alive(pid: int) -> bool:
    """The process runs (a zombie, dead and waiting to be reaped, does not)."""
    state = _state(pid)
    return state is not None and state[0] != "Z"


def _pid(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().split()[0])
    return None


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(what: str, ok, timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.5)
    tail = ""
    if log and log.is_file():
        tail = "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise SystemExit(f"{what} did not become healthy within {timeout:.0f} s{tail}")


# PostgreSQL -----------------------------------------------------------------------------------------


def _run(what: str, cmd: list[str]) -> str:
    """Run a server's command; on failure, stop with what it printed (not a Python traceback)."""
    got = subprocess.run(cmd, capture_output=True, text=True)
    if got.returncode:
        raise SystemExit(f"{what} failed (exit {got.returncode}):\n{got.stdout}{got.stderr}")
    return got.stdout


def start_postgres(c: Cluster) -> None:
    s, shared = c.secrets(), read_env_file()
    c.run.mkdir(parents=True, exist_ok=True)
    c.logs.mkdir(parents=True, exist_ok=True)
    log = c.logs / "postgres.log"
    log.touch()
    if os.geteuid() == 0:  # the postgres user writes its socket and log here (and must reach this folder)
        shutil.chown(c.run, "postgres")
        shutil.chown(log, "postgres")
    if not (c.pgdata / "PG_VERSION").is_file():
        c.pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(c.pgdata, "postgres")
        _say(f"initdb {c.pgdata}")
        initdb = [_pg_bin("initdb"), "-D", str(c.pgdata), "-U", "postgres", "-E", "UTF8", "--auth-local=trust",
                  "--auth-host=scram-sha-256"]  # fmt: skip
        _run("initdb", _as_postgres(initdb))
    if not _postgres_running(c):
        _say(f"postgres on 127.0.0.1:{c.pg_port}")
        opts = f"-c listen_addresses=127.0.0.1 -c port={c.pg_port} -c unix_socket_directories={c.run}"
        _run("pg_ctl start", _as_postgres([_pg_bin("pg_ctl"), "-D", str(c.pgdata), "-l", str(log), "-o", opts, "-w",
                                           "start"]))  # fmt: skip
    user, db, password = shared["POSTGRES_USER"], shared["POSTGRES_DB"], s["POSTGRES_PASSWORD"]
    psql = [_pg_bin("psql"), "-h", str(c.run), "-p", str(c.pg_port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qtA"]
    if not _run("psql", _as_postgres([*psql, "-c", f"select 1 from pg_roles where rolname = '{user}'"])).strip():
        _run("create role", _as_postgres([*psql, "-c", f"create role {user} login password '{password}'"]))
        _run("create database", _as_postgres([*psql, "-c", f"create database {db} owner {user}"]))


def _postgres_running(c: Cluster) -> bool:
    pid = _pid(c.pgdata / "postmaster.pid")
    return pid is not None and _alive(pid)


def stop_postgres(c: Cluster) -> None:
    if _postgres_running(c):
        _say("stopping postgres")
        subprocess.run(
            _as_postgres([_pg_bin("pg_ctl"), "-D", str(c.pgdata), "-m", "fast", "-w", "-t", "60", "stop"]),
            check=False, capture_output=True,
        )  # fmt: skip


# Redis ----------------------------------------------------------------------------------------------


def start_redis(c: Cluster) -> None:
    pid = _pid(c.run / "redis.pid")
    if pid and _alive(pid):
        return
    exe = shutil.which("redis-server")
    if not exe:
        raise SystemExit("redis-server is not installed: run bin/install-cluster-deps (make cluster does)")
    (c.root / "redis").mkdir(parents=True, exist_ok=True)
    conf = c.run / "redis.conf"
    text = (
        f"bind 127.0.0.1\nport {c.redis_port}\nrequirepass {c.secrets()['REDIS_PASSWORD']}\n"
        f"dir {c.root / 'redis'}\npidfile {c.run / 'redis.pid'}\nlogfile {c.logs / 'redis.log'}\n"
        'daemonize yes\nsave ""\nappendonly no\n'
    )
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    _say(f"redis on 127.0.0.1:{c.redis_port}")
    _run("redis-server", [exe, str(conf)])
    _wait("redis", lambda: _port_open(c.redis_port) and (_pid(c.run / "redis.pid") or 0) > 0, 30, c.logs / "redis.log")


def stop_redis(c: Cluster) -> None:
    pid = _pid(c.run / "redis.pid")
    if pid and _alive(pid):
        _say("stopping redis")
        os.kill(pid, signal.SIGTERM)
        _wait_gone([pid], STOP_WAIT_S)
    (c.run / "redis.pid").unlink(missing_ok=True)


# Airflow --------------------------------------------------------------------------------------------


def _airflow_cmd(part: str, queue: str) -> list[str]:
    airflow = str(Path(sys.executable).with_name("airflow"))
    if part == "worker-writer":  # the one worker that writes DuckDB
        return [airflow, "celery", "worker", "--queues", queue, "--concurrency", "1", "--celery-hostname", "writer@%h"]
    if part == "worker-default":
        return [airflow, "celery", "worker", "--queues", "default", "--celery-hostname", "default@%h"]
    return [airflow, part]


def start_airflow_part(c: Cluster, part: str, env: dict[str, str]) -> None:
    pidfile = c.run / f"{part}.pid"
    pid = _pid(pidfile)
    if pid and _alive(pid):
        return
    with (c.logs / f"{part}.log").open("ab") as log:
        proc = subprocess.Popen(
            _airflow_cmd(part, env["REFORMWATCH_WRITER_QUEUE"]),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() signals the part and all its children
            cwd=c.root,
        )
    pidfile.write_text(f"{proc.pid}\n")
    _say(f"{part} (pid {proc.pid}, log {c.logs / f'{part}.log'})")


def _health(c: Cluster) -> dict:
    try:
        with urllib.request.urlopen(f"{c.api_url}/api/v2/monitor/health", timeout=5) as r:
            return json.load(r)
    except (OSError, ValueError, urllib.error.URLError):
        return {}


def _airflow_healthy(c: Cluster) -> bool:
    h = _health(c)
    parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
    return bool(h) and all(h.get(p, {}).get("status") == "healthy" for p in parts)


def _workers_ready(c: Cluster, env: dict[str, str]) -> bool:
    host = socket.gethostname()
    got = subprocess.run(
        [sys.executable, "-m", "celery", "--app", "airflow.providers.celery.executors.celery_executor.app",
         "inspect", "ping", "--timeout", "3", "-d", f"writer@{host},default@{host}"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return f"writer@{host}: OK" in got.stdout and f"default@{host}: OK" in got.stdout


def start(c: Cluster) -> None:
    c.root.mkdir(parents=True, exist_ok=True)
    c.logs.mkdir(parents=True, exist_ok=True)
    c.run.mkdir(parents=True, exist_ok=True)
    start_postgres(c)
    start_redis(c)
    env = c.environment()
    c.airflow_home.mkdir(parents=True, exist_ok=True)
    _say("airflow db migrate, pool reformwatch_duckdb")
    setup = subprocess.run([str(PROJECT_ROOT / "bin" / "airflow-setup")], env=env, capture_output=True, text=True)
    if setup.returncode:
        raise SystemExit(f"airflow-setup failed:\n{setup.stdout}{setup.stderr}")
    for part in AIRFLOW_PARTS:
        start_airflow_part(c, part, env)
    _wait("Airflow (api-server, scheduler, dag-processor, triggerer)", lambda: _airflow_healthy(c), 180,
          c.logs / "api-server.log")  # fmt: skip
    _wait("the Celery workers", lambda: _workers_ready(c, env), 120, c.logs / "worker-writer.log")
    subprocess.run([str(Path(sys.executable).with_name("airflow")), "dags", "reserialize"], env=env,
                   capture_output=True)  # fmt: skip
    print(
        f"""
  reformwatch cluster is up (CeleryExecutor, PostgreSQL {c.pg_port}, Redis {c.redis_port}, all on 127.0.0.1)
  UI and REST API  {c.api_url}   user admin, password {c.admin_password() or "(see AIRFLOW_HOME)"}
  passwords file   {c.airflow_home / "simple_auth_manager_passwords.json.generated"}
  landing zone     {env["REFORMWATCH_LANDING"]}
  warehouse        {env["REFORMWATCH_WAREHOUSE"]}
  logs             {c.logs}
  airflow CLI      eval "$({Path(sys.executable).parent}/python -m reformwatch.local_cluster env)"; airflow dags list
  stop             make cluster-stop
""",
        flush=True,
    )


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        if not pids:
            return []
        time.sleep(0.2)
    return [p for p in pids if _alive(p)]


def stop_group(pid: int, timeout: float = STOP_WAIT_S) -> None:
    """SIGTERM a process group, wait up to `timeout`, then SIGKILL what is left of it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    members = [pid, *_group_members(pid)]
    left = _wait_gone(members, timeout)
    if left:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        for p in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        _wait_gone(left, 10)


def _group_members(pgid: int) -> list[int]:
    """The running processes of a process group."""
    pids = (int(p.name) for p in Path("/proc").glob("[0-9]*"))
    return [p for p in pids if (state := _state(p)) and state[1] == pgid and state[0] != "Z"]


def stop(c: Cluster) -> None:
    for part in reversed(AIRFLOW_PARTS):
        pidfile = c.run / f"{part}.pid"
        pid = _pid(pidfile)
        if pid and (_alive(pid) or _group_members(pid)):
            _say(f"stopping {part} (pid {pid})")
            stop_group(pid)
        pidfile.unlink(missing_ok=True)
    stop_redis(c)
    stop_postgres(c)
    _say("stopped")


def status(c: Cluster) -> int:
    rows = [("postgres", _pid(c.pgdata / "postmaster.pid")), ("redis", _pid(c.run / "redis.pid"))]
    rows += [(p, _pid(c.run / f"{p}.pid")) for p in AIRFLOW_PARTS]
    down = 0
    for name, pid in rows:
        up = bool(pid and _alive(pid))
        down += not up
        print(f"  {name:<15} {'running' if up else 'stopped'}{f' (pid {pid})' if up else ''}")
    print(f"  api             {c.api_url}  {'healthy' if _airflow_healthy(c) else 'not healthy'}")
    return 1 if down else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m reformwatch.local_cluster",
        description="Run reformwatch's Airflow cluster (CeleryExecutor, PostgreSQL, Redis) on this machine.",
    )
    p.add_argument("command", choices=["start", "stop", "status", "env"], help="env: export lines for the airflow CLI")
    args = p.parse_args(argv)
    c = Cluster.from_env()
    if args.command == "start":
        start(c)
    elif args.command == "stop":
        stop(c)
    elif args.command == "status":
        return status(c)
    else:
        import shlex

        env = c.environment()
        keys = [k for k in env if k.startswith(("AIRFLOW", "REFORMWATCH_")) or k in read_env_file()]
        print("\n".join(f"export {k}={shlex.quote(env[k])}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
