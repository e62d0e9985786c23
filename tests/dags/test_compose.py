"""docker-compose.yml wiring, read with PyYAML: Airflow components share one image, environment and
secret; broker, result backend, metadata DB, warehouse and connections point at services that exist;
long-running services have health checks; start order follows health and completion."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
import yaml

from etl import config
from etl.catalog import load_catalog

pytestmark = pytest.mark.unit

COMPOSE = yaml.safe_load((config.PROJECT_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
AIRFLOW = {name: s for name, s in SERVICES.items() if name.startswith("airflow-") and name != "airflow-db"}
ONE_SHOT = {name for name, s in SERVICES.items() if s.get("restart") == "no"}
LONG_RUNNING = set(SERVICES) - ONE_SHOT
ENV = AIRFLOW["airflow-scheduler"]["environment"]


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def test_every_airflow_component_is_there_and_shares_image_env_and_secret():
    commands = {name: " ".join(s.get("command", [])) if isinstance(s.get("command"), list) else s.get("command", "")
                for name, s in AIRFLOW.items()}
    for role in ("api-server", "scheduler", "dag-processor", "triggerer", "celery worker"):
        assert any(role in c for c in commands.values()), role
    assert "airflow db migrate" in commands["airflow-init"]
    for name, service in AIRFLOW.items():
        assert service["image"] == AIRFLOW["airflow-scheduler"]["image"], name
        assert service["environment"] == ENV, name
        assert service["volumes"] == AIRFLOW["airflow-scheduler"]["volumes"], name
    assert re.fullmatch(r"\$\{AIRFLOW_JWT_SECRET:\?.+\}", ENV["AIRFLOW__API_AUTH__JWT_SECRET"])
    assert re.fullmatch(r"\$\{AIRFLOW_FERNET_KEY:\?.+\}", ENV["AIRFLOW__CORE__FERNET_KEY"])
    assert ENV["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert SERVICES["airflow-worker"]["deploy"]["replicas"] >= 2
    requirements = (config.PROJECT_ROOT / "requirements.txt").read_text()
    assert re.search(r"^apache-airflow-providers-celery==", requirements, re.M)


def test_urls_point_at_services_that_exist():
    execution = urlsplit(ENV["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert execution.hostname == "airflow-apiserver" and execution.port == 8080 and execution.path == "/execution/"
    assert "8080:8080" in SERVICES["airflow-apiserver"]["ports"]
    broker = ENV["AIRFLOW__CELERY__BROKER_URL"]
    assert broker.startswith("redis://") and _host(broker) == "redis"
    backend = ENV["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert backend.startswith("db+postgresql+psycopg2://") and _host(backend) == "airflow-db"
    assert _host(ENV["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]) == "airflow-db"
    assert _host(ENV["WAREHOUSE_URL"]) == "warehouse-db"
    assert SERVICES["warehouse-db"]["environment"]["POSTGRES_DB"] == urlsplit(ENV["WAREHOUSE_URL"]).path.strip("/")
    for name in ("redis", "airflow-db", "warehouse-db", "dept-sim", "platform-provincial", "platform-national"):
        assert name in SERVICES


def test_connections_cover_every_source_and_platform_and_point_at_the_simulators():
    catalog = load_catalog(config.CATALOG_DIR)
    needed = {(f.api or f.sql).connection_id for _, f in catalog.feeds() if f.api or f.sql}
    needed |= {"platform_provincial", "platform_national"}
    given = {name.removeprefix("AIRFLOW_CONN_").lower(): value for name, value in ENV.items()
             if name.startswith("AIRFLOW_CONN_")}
    assert needed <= set(given)
    for conn_id, value in given.items():
        if value.startswith("{"):
            entry = json.loads(value)
            host = entry["host"]
            if entry["conn_type"] == "sqlite":
                assert host.startswith("/var/creditwh/data/sql/"), conn_id
                continue
        else:
            host = _host(value)
        assert host in SERVICES, (conn_id, host)
    department_sim = " ".join(SERVICES["dept-sim"]["command"])
    assert "sim departments" in department_sim and "--port 8765" in department_sim
    for flavor in ("provincial", "national"):
        command = " ".join(SERVICES[f"platform-{flavor}"]["command"])
        assert f"sim platform --flavor {flavor}" in command
        assert json.loads(given[f"platform_{flavor}"])["host"] == f"platform-{flavor}"


def test_health_checks_and_start_order():
    for name in LONG_RUNNING:
        assert SERVICES[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert {"airflow-init", "sim-data"} == ONE_SHOT
    for name, service in SERVICES.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in SERVICES, (name, dependency)
            expected = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            assert condition == {"condition": expected}, (name, dependency)
    for name in AIRFLOW.keys() - {"airflow-init"}:
        needs = SERVICES[name]["depends_on"]
        assert {"airflow-init", "airflow-db", "redis"} <= set(needs), name
    for name in ("dept-sim", "platform-provincial", "platform-national"):
        assert "sim-data" in SERVICES[name]["depends_on"]


def test_state_is_on_volumes_shared_by_every_worker():
    volumes = set(COMPOSE["volumes"])
    for name, service in AIRFLOW.items():
        mounts = dict(v.split(":", 1) for v in service["volumes"])
        assert mounts.get("creditwh-var") == "/var/creditwh", name
    assert ENV["CREDITWH_VAR_DIR"] == "/var/creditwh"
    assert {"creditwh-var", "airflow-db", "warehouse-db"} <= volumes
    dockerfile = (config.PROJECT_ROOT / "Dockerfile").read_text()
    assert "requirements.txt" in dockerfile and "COPY dags" in dockerfile and "COPY warehouse_sql" in dockerfile
    assert "pools.json" in " ".join(SERVICES["airflow-init"]["command"])
