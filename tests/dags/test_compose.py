"""docker-compose.yml: valid against the compose specification (offline), health checks everywhere,
no secrets in the file."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from reformwatch.local_cluster import ENV_FILE, Cluster, read_env_file

COMPOSE = Path(__file__).parents[2] / "docker-compose.yml"


def test_compose_validates_against_the_spec():
    exe = Path(sys.executable).parent / "check-jsonschema"
    out = subprocess.run(
        [str(exe), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_service_has_a_health_check_and_depends_on_healthy():
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    expected = {
        "postgres",
        "redis",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
        "airflow-init",
    }
    assert expected <= set(services)
    for name, svc in services.items():
        assert svc.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name, svc in services.items():
        if name.startswith("airflow-") and name != "airflow-init":
            deps = svc["depends_on"]
            assert deps["postgres"]["condition"] == "service_healthy"
            assert deps["redis"]["condition"] == "service_healthy"
    assert read_env_file()["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_compose_and_make_cluster_read_the_same_settings():
    """deploy/airflow.env is the one place for the executor, Celery, queue and scheduler settings: every
    Airflow service reads it, none overrides it, and make cluster (local_cluster) runs with it."""
    spec = yaml.safe_load(COMPOSE.read_text())
    shared = read_env_file()
    assert COMPOSE.parent / "deploy" / "airflow.env" == ENV_FILE
    for name, svc in spec["services"].items():
        if not name.startswith("airflow-"):
            continue
        assert "deploy/airflow.env" in svc["env_file"], name
        assert not set(svc.get("environment", {})) & set(shared), f"{name} overrides deploy/airflow.env"
    writer = spec["services"]["airflow-worker-duckdb"]["command"]
    assert "$$REFORMWATCH_WRITER_QUEUE" in " ".join(writer) and "--concurrency 1" in " ".join(writer)
    keys = ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET")
    env = Cluster(Path("/nonexistent"), 1, 2, 3, "127.0.0.1").environment_from(shared, dict.fromkeys(keys, "x"), {})
    assert {k: env[k] for k in shared} == shared


def test_no_secrets_in_the_compose_file():
    text = COMPOSE.read_text()
    keys = re.findall(r"^\s*([A-Z_]*(?:PASSWORD|FERNET_KEY))\s*:\s*(.*)$", text, re.M)
    assert len(keys) >= 3
    for key, value in keys:
        assert value.startswith("${"), f"{key} has a literal value"
    for password in re.findall(r"://[^:/@\s]*:([^@\s]*)@", text):
        assert password.startswith("${"), "a connection URL holds a literal password"
