"""localstack-compose.yml and its init script, checked without Docker: the services, their settings,
and that the names the init script creates are the ones the services use."""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.infra.support import (
    COMPOSE,
    DOCKERFILE,
    INIT_SCRIPT,
    REPO,
    env_names_in,
    load_yaml,
    settings_env_names,
)
from whisperq.settings import Settings

APP_SERVICES = ("api", "runner", "events", "refiner")
# Services that send refine requests (the API and the runner) or take them (the refiner).
REFINE_SERVICES = ("api", "runner", "refiner")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


@pytest.fixture(scope="module")
def services(compose) -> dict[str, Any]:
    return compose["services"]


def interpolate(value: Any) -> str:
    """Compose's ``${NAME:-default}`` with nothing set in the environment."""
    return re.sub(r"\$\{[A-Za-z0-9_]+:-([^}]*)\}", r"\1", str(value))


def env(services, name: str) -> dict[str, str]:
    environment = services[name].get("environment", {})
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    # A name with no value is taken from the shell running compose, or left unset: not set here.
    return {key: interpolate(value) for key, value in environment.items() if value is not None}


def script_defaults() -> dict[str, str]:
    """``NAME=${NAME:-default}`` lines of the init script."""
    text = INIT_SCRIPT.read_text()
    return dict(re.findall(r"^([A-Z_]+)=\$\{\1:-([^}]*)\}$", text, flags=re.MULTILINE))


def published_ports(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) of each short-syntax mapping such as ``127.0.0.1:8000:8000``."""
    pairs = []
    for mapping in service.get("ports", []):
        parts = str(mapping).split(":")
        pairs.append((int(parts[-2]), int(parts[-1])))
    return pairs


def test_services_exist(services):
    assert {"localstack", "minio", "init", "api", "runner", "refiner"} <= set(services)


def test_localstack_serves_s3_and_sqs(services):
    localstack = services["localstack"]
    assert interpolate(localstack["image"]).startswith("localstack/localstack:")
    assert set(env(services, "localstack")["SERVICES"].split(",")) == {"s3", "sqs"}
    assert "healthcheck" in localstack


def test_minio_has_a_console_and_a_webhook_to_the_api(services):
    minio = services["minio"]
    assert "minio/minio" in interpolate(minio["image"])
    assert minio["command"][:2] == ["server", "/data"] and "--console-address" in minio["command"]
    assert (9001, 9001) in published_ports(minio)
    minio_env = env(services, "minio")
    assert minio_env["MINIO_NOTIFY_WEBHOOK_ENABLE_WHISPERQ"] == "on"
    endpoint = urlparse(minio_env["MINIO_NOTIFY_WEBHOOK_ENDPOINT_WHISPERQ"])
    assert (endpoint.hostname, endpoint.port, endpoint.path) == ("api", 8000, "/api/events/s3")
    # MinIO sends the token as a bearer token; the API checks it against its setting.
    assert minio_env["MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_WHISPERQ"] == env(services, "api")["WHISPERQ_API__EVENTS_TOKEN"]
    # The ARN the init script subscribes names the same target.
    assert env(services, "init")["MINIO_WEBHOOK_ARN"] == "arn:minio:sqs::WHISPERQ:webhook"
    # One key pair for LocalStack and MinIO, so the store can move to MinIO with one variable.
    assert minio_env["MINIO_ROOT_USER"] == env(services, "api")["AWS_ACCESS_KEY_ID"]
    assert minio_env["MINIO_ROOT_PASSWORD"] == env(services, "api")["AWS_SECRET_ACCESS_KEY"]


def test_init_runs_the_script_after_both_servers_are_healthy(services):
    init = services["init"]
    assert init["image"].startswith("amazon/aws-cli")
    assert init["entrypoint"][-1] == "/infra/local/init.sh"
    assert "./infra/local:/infra/local:ro" in init["volumes"]
    assert INIT_SCRIPT.exists()
    assert init["depends_on"] == {
        "localstack": {"condition": "service_healthy"},
        "minio": {"condition": "service_healthy"},
    }


def test_app_services_start_after_init_and_use_localstack(services):
    for name in APP_SERVICES:
        service = services[name]
        assert service["depends_on"]["init"] == {"condition": "service_completed_successfully"}, name
        assert service["build"]["dockerfile"] == "infra/Dockerfile", name
        assert service["build"]["context"] == ".", name
        assert env(services, name)["AWS_ENDPOINT_URL"] == "http://localstack:4566", name
    assert services["api"]["build"]["target"] == "api"
    assert services["runner"]["build"]["target"] == "runner"
    assert env(services, "runner")["WHISPERQ_RUNNER__DEVICES"] == "cpu"
    assert "healthcheck" in services["api"]


def test_dockerfile_has_the_targets_compose_builds(services):
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim AS base$", text, flags=re.MULTILINE)
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", text, flags=re.MULTILINE))
    assert {services[name]["build"]["target"] for name in APP_SERVICES} <= stages
    assert "pip install /app" in text
    assert (REPO / "infra" / "Dockerfile.dockerignore").exists()


def test_api_listens_on_port_8000(services):
    assert published_ports(services["api"]) == [(8000, 8000)]
    api_env = env(services, "api")
    assert api_env["WHISPERQ_API__PORT"] == "8000"
    assert api_env["WHISPERQ_API__HOST"] == "0.0.0.0"


def test_every_whisperq_variable_is_a_setting(compose):
    used = env_names_in(compose) | env_names_in(DOCKERFILE.read_text())
    assert "WHISPERQ_STORE_URL" in used
    unknown = used - settings_env_names()
    assert not unknown, f"not settings of whisperq.settings.Settings: {sorted(unknown)}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_service_settings_are_valid(services, monkeypatch, name):
    for variable in list(os.environ):
        if variable.upper().startswith("WHISPERQ_"):
            monkeypatch.delenv(variable)
    for variable, value in env(services, name).items():
        if variable.startswith("WHISPERQ_"):
            monkeypatch.setenv(variable, value)
    settings = Settings()
    assert settings.resolved_store_url().startswith("s3://")
    assert settings.resolved_queue_url().startswith("http://localstack:4566/")


def test_init_creates_what_the_services_use(services):
    init = env(services, "init")
    defaults = script_defaults()
    # The script's own defaults are the compose values, so running it by hand gives the same stack.
    for name in (
        "BUCKET",
        "JOBS_QUEUE",
        "JOBS_DLQ",
        "EVENTS_QUEUE",
        "EVENTS_DLQ",
        "REFINE_QUEUE",
        "REFINE_DLQ",
        "REFINE_VISIBILITY_TIMEOUT",
        "MAX_RECEIVE_COUNT",
        "VISIBILITY_TIMEOUT",
        "INBOX_PREFIX",
        "MINIO_WEBHOOK_ARN",
        "LOCALSTACK_ENDPOINT",
        "MINIO_ENDPOINT",
    ):
        assert defaults[name] == init[name], name
    for name in APP_SERVICES:
        app = env(services, name)
        assert app["WHISPERQ_STORE_URL"] == f"s3://{init['BUCKET']}", name
        queue = urlparse(app["WHISPERQ_QUEUE_URL"])
        assert f"{queue.scheme}://{queue.netloc}" == init["LOCALSTACK_ENDPOINT"], name
        # LocalStack's default account, and the queue's name as the last part (SQS_ENDPOINT_STRATEGY=off).
        assert queue.path == f"/000000000000/{init['JOBS_QUEUE']}", name
        assert int(app["WHISPERQ_RUNNER__MAX_ATTEMPTS"]) + 1 == int(init["MAX_RECEIVE_COUNT"]), name
        assert app["WHISPERQ_RUNNER__VISIBILITY_TIMEOUT_S"] == init["VISIBILITY_TIMEOUT"], name
    assert env(services, "localstack")["SQS_ENDPOINT_STRATEGY"] == "off"
    events_queue = urlparse(env(services, "events")["EVENTS_QUEUE_URL"])
    assert events_queue.path == f"/000000000000/{init['EVENTS_QUEUE']}"
    assert init["INBOX_PREFIX"] == "inbox/"


def test_init_script_is_valid_bash():
    result = subprocess.run(["bash", "-n", str(INIT_SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_minio_webhook_endpoint_is_an_api_route(services):
    path = urlparse(env(services, "minio")["MINIO_NOTIFY_WEBHOOK_ENDPOINT_WHISPERQ"]).path
    routes = [p for p in (REPO / "functions").rglob("*.py") if f'.post("{path}"' in p.read_text()]
    assert routes, f"no API route serves POST {path}"


def stage(name: str) -> str:
    """The lines of one stage of infra/Dockerfile."""
    text = DOCKERFILE.read_text()
    match = re.search(rf"^FROM \S+ AS {name}$(.*?)(?=^FROM |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"no stage {name}"
    return match.group(1)


def test_refiner_service_runs_the_refiner(services):
    refiner = services["refiner"]
    assert refiner["command"] == ["whisperq", "refiner"]
    assert 'CMD ["whisperq", "refiner"]' in stage(refiner["build"]["target"])
    assert 'add_parser("refiner"' in REPO.joinpath("whisperq", "cli.py").read_text()  # the command exists
    assert env(services, "refiner")["WHISPERQ_REFINE_MODEL"] == Settings().refine_model
    # The LLM comes from the shell: passed through when set there, never set to an empty value
    # (the openai SDK takes an empty OPENAI_BASE_URL as the address of the server).
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY"):
        assert name in refiner["environment"] and refiner["environment"][name] is None, name
    assert "host.docker.internal:host-gateway" in refiner["extra_hosts"]


@pytest.mark.parametrize("name", REFINE_SERVICES)
def test_refine_queue_is_the_one_init_creates(services, monkeypatch, name):
    init = env(services, "init")
    app = env(services, name)
    queue = urlparse(app["WHISPERQ_REFINE_QUEUE_URL"])
    assert f"{queue.scheme}://{queue.netloc}" == init["LOCALSTACK_ENDPOINT"]
    assert queue.path == f"/000000000000/{init['REFINE_QUEUE']}"
    assert int(app["WHISPERQ_REFINE__MAX_ATTEMPTS"]) + 1 == int(init["MAX_RECEIVE_COUNT"])
    assert app["WHISPERQ_REFINE__VISIBILITY_TIMEOUT_S"] == init["REFINE_VISIBILITY_TIMEOUT"]
    for variable in list(os.environ):
        if variable.upper().startswith("WHISPERQ_"):
            monkeypatch.delenv(variable)
    for variable, value in app.items():
        if variable.startswith("WHISPERQ_"):
            monkeypatch.setenv(variable, value)
    assert Settings().resolved_refine_queue_url() == app["WHISPERQ_REFINE_QUEUE_URL"]


def test_init_creates_the_refine_queue_with_its_dead_letter_queue():
    text = INIT_SCRIPT.read_text()
    dlq = re.search(r'^(\w+)=\$\(ensure_queue "\$REFINE_DLQ" ', text, flags=re.MULTILINE)
    assert dlq, "init.sh does not create $REFINE_DLQ"
    attributes = re.search(
        rf'^(\w+)="\$\(redrive "\$\(queue_arn "\${dlq.group(1)}"\)" "\$MAX_RECEIVE_COUNT"\).*'
        r'\\"VisibilityTimeout\\": \\"\$REFINE_VISIBILITY_TIMEOUT\\"',
        text,
        flags=re.MULTILINE,
    )
    assert attributes, "the refine queue has no redrive policy to $REFINE_DLQ"
    assert re.search(rf'ensure_queue "\$REFINE_QUEUE" "\${attributes.group(1)}"', text)
