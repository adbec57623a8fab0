"""docker-compose.yml, the image and the broker and database init, checked against the code.

There is no Docker engine here: the files are parsed, and the health checks the containers
run are run against stand-in servers. docker-compose.yml and the database init script are
generated from the services' declarations (`estuary manifests`): a committed file that is
not what they generate, a setting renamed, a CLI change or a new exchange name fails a test.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pydantic_settings import BaseSettings

from chassis.bus.rabbitmq import dead_letter_exchange
from chassis.service import ServiceDeclaration
from chassis.settings import DEFAULT_EXCHANGE
from gateway.settings import GatewaySettings
from suite import manifests
from suite.cli import _parser
from suite.registry import BY_NAME, SERVICES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
CONTAINERS: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = "deploy/Dockerfile"

# Names of settings and compose variables that hold secrets.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|CREDENTIALS")
# A value the operator supplies: required (${VAR:?why}) or optional and empty by default (${VAR:-}).
OPERATOR_SUPPLIED = re.compile(r"\$\{[A-Z][A-Z0-9_]*(:\?[^}]*|:-)\}")
DATABASE_URL = re.compile(
    r"(?P<scheme>[a-z+]+)://(?P<user>[^:@/]+):(?P<password>.+)@(?P<host>[\w.-]+):5432/(?P<database>\w+)"
)
BUS_URL = re.compile(r"amqp://(?P<user>[^:@/]+):(?P<password>.+)@(?P<host>[\w.-]+):5672/")


def estuary_containers() -> dict[str, dict[str, Any]]:
    """The containers that run the suite's own image."""
    return {
        name: spec
        for name, spec in CONTAINERS.items()
        if isinstance(spec.get("build"), dict) and spec["build"].get("dockerfile") == DOCKERFILE
    }


def environment(spec: dict[str, Any]) -> dict[str, str]:
    """A container's environment as compose gives it, in either of compose's two spellings."""
    declared = spec.get("environment") or {}
    if isinstance(declared, list):
        return dict(item.split("=", 1) for item in declared)
    return {name: "" if value is None else str(value) for name, value in declared.items()}


def settings_fields(settings: type[BaseSettings]) -> set[str]:
    """The ESTUARY_* variables a settings class reads; the gateway also reads each declared
    service's address."""
    fields = {f"ESTUARY_{name.upper()}" for name in settings.model_fields}
    for field in settings.model_fields.values():
        # Settings of their own (the media store's ESTUARY_MEDIA_*), read by their prefix.
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseSettings):
            prefix = nested.model_config.get("env_prefix", "")
            fields |= {f"{prefix}{name.upper()}" for name in nested.model_fields}
    if settings is GatewaySettings:
        fields |= {entry.address_variable for entry in SERVICES}
    return fields


def role(spec: dict[str, Any]) -> tuple[str, str]:
    """What an estuary container runs: ("serve", "identity"), ("migrate", "identity")..."""
    command = spec.get("command") or []
    assert len(command) == 2, f"expected `estuary <serve|migrate> <name>`, got {command}"
    return command[0], command[1]


def settings_for(spec: dict[str, Any]) -> type[BaseSettings]:
    """The settings class the process in an estuary container reads."""
    _, name = role(spec)
    return GatewaySettings if name == "gateway" else BY_NAME[name].settings


def grpc_port(entry: ServiceDeclaration) -> int:
    """The port a service's container listens on: its ESTUARY_GRPC_PORT, else the default."""
    configured = environment(CONTAINERS[entry.name]).get("ESTUARY_GRPC_PORT")
    return int(configured) if configured else entry.settings.model_fields["grpc_port"].default


def gateway_port() -> int:
    configured = environment(CONTAINERS["gateway"]).get("ESTUARY_HTTP_PORT")
    return int(configured) if configured else GatewaySettings.model_fields["http_port"].default


def healthcheck_argv(spec: dict[str, Any]) -> list[str]:
    """The exec-form command of a container's health check."""
    test = spec.get("healthcheck", {}).get("test")
    assert isinstance(test, list) and test[0] == "CMD", f"use the exec form [CMD, ...]: {test}"
    return [str(arg) for arg in test[1:]]


def run_in_container_python(argv: list[str], env: dict[str, str]) -> int:
    """Runs a `python ...` command as the image would, with this venv's python."""
    assert argv[0] == "python", f"the image's health checks run its venv's python: {argv}"
    completed = subprocess.run(
        [sys.executable, *argv[1:]],
        env={**os.environ, **env},
        capture_output=True,
        timeout=30,
        check=False,
    )
    return completed.returncode


def services_params() -> list[Any]:
    return [pytest.param(entry, id=entry.name) for entry in SERVICES]


def estuary_params() -> list[Any]:
    return [pytest.param(name, spec, id=name) for name, spec in estuary_containers().items()]


# Generated from the declarations ------------------------------------------------------------


@pytest.mark.parametrize("path", [manifests.COMPOSE, manifests.POSTGRES_INIT])
def test_the_committed_file_is_what_the_declarations_generate(path: str) -> None:
    generated = manifests.render(SERVICES)[path]
    assert (ROOT / path).read_text() == generated, f"{path} is stale: run `estuary manifests`"


def test_the_check_names_a_stale_file(tmp_path: Path) -> None:
    for path, text in manifests.render(SERVICES).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    assert manifests.write(tmp_path, SERVICES, check=True) == []
    compose = tmp_path / manifests.COMPOSE
    compose.write_text(compose.read_text().replace('"50052"', '"50099"'))
    assert manifests.write(tmp_path, SERVICES, check=True) == [manifests.COMPOSE]
    assert "50099" in compose.read_text(), "--check writes nothing"
    assert manifests.write(tmp_path, SERVICES, check=False) == [manifests.COMPOSE]
    assert manifests.write(tmp_path, SERVICES, check=True) == []


def test_estuary_manifests_check_passes_on_the_committed_files() -> None:
    checked = subprocess.run(
        [sys.executable, "-m", "suite.cli", "manifests", "--check", "--root", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


# The containers of each service --------------------------------------------------------------


@pytest.mark.parametrize("entry", services_params())
def test_every_service_has_a_migration_and_a_server_container(entry: ServiceDeclaration) -> None:
    containers = estuary_containers()
    migration = containers.get(f"{entry.name}-migrate")
    server = containers.get(entry.name)
    assert migration is not None, f"no `{entry.name}-migrate` container built from {DOCKERFILE}"
    assert server is not None, f"no `{entry.name}` container built from {DOCKERFILE}"
    assert role(migration) == ("migrate", entry.name)
    assert role(server) == ("serve", entry.name)


def test_the_gateway_has_a_container() -> None:
    assert role(estuary_containers()["gateway"]) == ("serve", "gateway")


@pytest.mark.parametrize(("name", "spec"), estuary_params())
def test_every_command_is_an_estuary_invocation(name: str, spec: dict[str, Any]) -> None:
    try:
        _parser().parse_args([str(arg) for arg in spec["command"]])
    except SystemExit:
        pytest.fail(f"{name}: `estuary {' '.join(spec['command'])}` is not a valid command")


@pytest.mark.parametrize(("name", "spec"), estuary_params())
def test_every_variable_is_a_setting_of_the_process_reading_it(
    name: str, spec: dict[str, Any]
) -> None:
    settings = settings_for(spec)
    unknown = set(environment(spec)) - settings_fields(settings)
    assert not unknown, f"{name} sets {sorted(unknown)}, which {settings.__name__} does not read"


@pytest.mark.parametrize("entry", services_params())
def test_each_service_listens_on_its_default_port_on_every_interface(
    entry: ServiceDeclaration,
) -> None:
    assert environment(CONTAINERS[entry.name]).get("ESTUARY_GRPC_HOST") == "0.0.0.0"
    assert grpc_port(entry) == entry.grpc_port
    # Prometheus text on its own port, reachable on the compose network.
    metrics = environment(CONTAINERS[entry.name]).get("ESTUARY_METRICS_PORT")
    assert metrics is not None and int(metrics) not in (0, entry.grpc_port)


def test_the_gateway_listens_on_its_published_port_on_every_interface() -> None:
    gateway = CONTAINERS["gateway"]
    assert environment(gateway).get("ESTUARY_HTTP_HOST") == "0.0.0.0"
    published = {str(mapping).rsplit(":", 1)[-1] for mapping in gateway.get("ports", [])}
    assert str(gateway_port()) in published, f"{gateway_port()} is not published: {published}"


@pytest.mark.parametrize(("name", "spec"), estuary_params())
def test_every_address_is_a_service_container_and_its_port(name: str, spec: dict[str, Any]) -> None:
    for variable, value in environment(spec).items():
        if variable.endswith("_ADDRESS"):
            host, _, port = value.rpartition(":")
            assert host in BY_NAME, f"{name}: {variable}={value} is not a service's container"
            assert int(port) == grpc_port(BY_NAME[host]), f"{name}: {variable}={value}"


@pytest.mark.parametrize("entry", services_params())
def test_the_gateway_knows_where_every_service_is(entry: ServiceDeclaration) -> None:
    address = environment(CONTAINERS["gateway"]).get(f"ESTUARY_{entry.name.upper()}_ADDRESS")
    assert address == f"{entry.name}:{entry.grpc_port}"


# Databases -----------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", services_params())
def test_each_service_migrates_and_serves_its_own_postgres_database(
    entry: ServiceDeclaration,
) -> None:
    postgres = environment(CONTAINERS["postgres"])
    for name in (f"{entry.name}-migrate", entry.name):
        url = environment(CONTAINERS[name]).get("ESTUARY_DATABASE_URL", "")
        found = DATABASE_URL.fullmatch(url)
        assert found, f"{name}: ESTUARY_DATABASE_URL={url!r} is not a PostgreSQL URL"
        assert found["scheme"] == "postgresql+psycopg", f"{name}: psycopg 3 is the driver"
        assert found["host"] == "postgres"
        assert found["database"] == entry.name, f"{name} must use its own database"
        assert found["user"] == postgres["POSTGRES_USER"]
        assert found["password"] == postgres["POSTGRES_PASSWORD"]


def test_postgres_init_creates_one_database_per_service() -> None:
    script = ROOT / "deploy/postgres/create-databases.sql"
    created = re.findall(r"^\s*CREATE DATABASE\s+(\w+)", script.read_text(), re.I | re.M)
    assert sorted(created) == sorted(entry.name for entry in SERVICES)
    mounts = CONTAINERS["postgres"].get("volumes", [])
    assert f"./{script.relative_to(ROOT)}:/docker-entrypoint-initdb.d/{script.name}:ro" in mounts


# Start order and health ----------------------------------------------------------------------


def test_every_dependency_waits_for_health_or_for_completion() -> None:
    for name, spec in CONTAINERS.items():
        depends_on = spec.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: a plain list only waits for a start"
        for dependency, how in depends_on.items():
            one_shot = CONTAINERS[dependency].get("restart") == "no"
            expected = "service_completed_successfully" if one_shot else "service_healthy"
            assert how.get("condition") == expected, f"{name} on {dependency}"


def test_every_long_running_container_reports_its_health() -> None:
    for name, spec in CONTAINERS.items():
        if spec.get("restart") == "no":
            assert "healthcheck" not in spec, f"{name} exits; it is never healthy"
        else:
            assert "healthcheck" in spec, f"{name} has no health check"
            assert healthcheck_argv(spec), f"{name}'s health check runs nothing"


@pytest.mark.parametrize("entry", services_params())
def test_each_service_starts_after_its_migration_and_the_broker(entry: ServiceDeclaration) -> None:
    migration = CONTAINERS[f"{entry.name}-migrate"]
    assert migration["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert migration.get("restart") == "no", "a migration runs once"
    server = CONTAINERS[entry.name]["depends_on"]
    assert server[f"{entry.name}-migrate"] == {"condition": "service_completed_successfully"}
    assert server["rabbitmq"] == {"condition": "service_healthy"}


@pytest.mark.parametrize("entry", services_params())
def test_each_service_starts_after_and_knows_where_the_services_it_calls_are(
    entry: ServiceDeclaration,
) -> None:
    server = CONTAINERS[entry.name]
    for called in map(BY_NAME.__getitem__, entry.calls):
        assert server["depends_on"][called.name] == {"condition": "service_healthy"}
        address = environment(server).get(called.address_variable)
        assert address == f"{called.name}:{called.grpc_port}", called.address_variable


def test_a_service_calls_another_so_the_check_above_checks_something() -> None:
    assert any(entry.calls for entry in SERVICES)


def test_the_gateway_starts_after_every_service_and_redis() -> None:
    depends_on = CONTAINERS["gateway"]["depends_on"]
    for name in [*BY_NAME, "redis"]:
        assert depends_on.get(name) == {"condition": "service_healthy"}, name


@pytest.mark.parametrize(
    ("name", "probe"),
    [
        ("postgres", ["pg_isready", "-h", "127.0.0.1"]),
        ("rabbitmq", ["rabbitmq-diagnostics", "-q"]),
        ("redis", ["redis-cli", "ping"]),
    ],
)
def test_the_infrastructure_reports_its_health(name: str, probe: list[str]) -> None:
    assert healthcheck_argv(CONTAINERS[name])[: len(probe)] == probe


@contextmanager
def grpc_health_server(status: int) -> Iterator[int]:
    """A gRPC server answering only the health check, with the given overall status."""
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    servicer.set("", status)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None)


@pytest.mark.parametrize("entry", services_params())
def test_each_service_health_check_tells_serving_from_not_serving(
    entry: ServiceDeclaration,
) -> None:
    argv = healthcheck_argv(CONTAINERS[entry.name])
    serving = health_pb2.HealthCheckResponse.SERVING
    not_serving = health_pb2.HealthCheckResponse.NOT_SERVING
    # The check reads the port from the container's ESTUARY_GRPC_PORT, set here to the stand-in's.
    with grpc_health_server(serving) as port:
        assert run_in_container_python(argv, {"ESTUARY_GRPC_PORT": str(port)}) == 0
    with grpc_health_server(not_serving) as port:
        assert run_in_container_python(argv, {"ESTUARY_GRPC_PORT": str(port)}) != 0


@contextmanager
def http_server(status: int) -> Iterator[tuple[int, list[str]]]:
    """An HTTP server answering every GET with `status`; yields its port and the paths asked."""
    asked: list[str] = []

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1], asked
    finally:
        server.shutdown()
        server.server_close()


def test_the_gateway_health_check_asks_healthz_and_fails_on_an_error() -> None:
    argv = healthcheck_argv(CONTAINERS["gateway"])
    with http_server(200) as (port, asked):
        assert run_in_container_python(argv, {"ESTUARY_HTTP_PORT": str(port)}) == 0
    assert asked == ["/healthz"]
    with http_server(503) as (port, _):
        assert run_in_container_python(argv, {"ESTUARY_HTTP_PORT": str(port)}) != 0


# The broker ----------------------------------------------------------------------------------


def test_the_definitions_declare_the_exchanges_the_services_publish_to() -> None:
    definitions = json.loads((ROOT / "deploy/rabbitmq/definitions.json").read_text())
    exchanges = {exchange["name"]: exchange for exchange in definitions["exchanges"]}
    expected = {DEFAULT_EXCHANGE: "topic", dead_letter_exchange(DEFAULT_EXCHANGE): "direct"}
    for name, kind in expected.items():
        assert name in exchanges, f"{name} is not declared"
        assert exchanges[name]["type"] == kind
        assert exchanges[name]["durable"] is True
        assert exchanges[name]["auto_delete"] is False
        assert exchanges[name]["vhost"] == "/"
    for entry in SERVICES:
        exchange = environment(CONTAINERS[entry.name]).get("ESTUARY_BUS_EXCHANGE", DEFAULT_EXCHANGE)
        assert exchange == DEFAULT_EXCHANGE, f"{entry.name} publishes to an undeclared exchange"


def test_the_broker_imports_the_definitions_compose_mounts() -> None:
    conf = (ROOT / "deploy/rabbitmq/rabbitmq.conf").read_text()
    found = re.search(r"^load_definitions\s*=\s*(\S+)", conf, re.M)
    assert found, "rabbitmq.conf must import the definitions at boot"
    directory = found[1]
    mounts = CONTAINERS["rabbitmq"]["volumes"]
    assert "./deploy/rabbitmq/rabbitmq.conf:/etc/rabbitmq/rabbitmq.conf:ro" in mounts
    assert f"./deploy/rabbitmq/definitions.json:{directory}/definitions.json:ro" in mounts
    seed = (ROOT / "deploy/rabbitmq/seed-operator-user.sh").read_text()
    assert f"RABBITMQ_DEFINITIONS_DIR:-{directory}}}" in seed, "the user lands beside them"
    entrypoint = CONTAINERS["rabbitmq"]["entrypoint"]
    assert f"./deploy/rabbitmq/seed-operator-user.sh:{entrypoint[-1]}:ro" in mounts


def run_seed(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Runs the broker's entrypoint wrapper with a stand-in for the image's own entrypoint."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    image_entrypoint = bin_dir / "docker-entrypoint.sh"
    image_entrypoint.write_text('#!/bin/sh\necho "image entrypoint: $*"\n')
    image_entrypoint.chmod(0o755)
    environ = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "RABBITMQ_DEFINITIONS_DIR": str(tmp_path)}
    script = ROOT / "deploy/rabbitmq/seed-operator-user.sh"
    return subprocess.run(
        ["sh", str(script), *CONTAINERS["rabbitmq"]["command"]],
        env={**environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_broker_seeds_the_operator_user_whatever_the_password(tmp_path: Path) -> None:
    password = 'pa"ss\\word $HOME `x`'
    seeded = run_seed(tmp_path, {"RABBITMQ_USER": "estuary", "RABBITMQ_PASSWORD": password})
    assert seeded.returncode == 0, seeded.stderr
    assert seeded.stdout.strip() == "image entrypoint: rabbitmq-server"
    definitions = json.loads((tmp_path / "operator-user.json").read_text())
    assert definitions["users"] == [
        {"name": "estuary", "password": password, "tags": "administrator"}
    ]
    assert definitions["permissions"] == [
        {"user": "estuary", "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
    ]


def test_the_broker_refuses_to_start_without_a_password(tmp_path: Path) -> None:
    seeded = run_seed(tmp_path, {"RABBITMQ_USER": "estuary"})
    assert seeded.returncode != 0
    assert "image entrypoint" not in seeded.stdout
    assert not (tmp_path / "operator-user.json").exists()


@pytest.mark.parametrize("entry", services_params())
def test_each_service_reaches_the_broker_as_the_seeded_user(entry: ServiceDeclaration) -> None:
    broker = environment(CONTAINERS["rabbitmq"])
    url = environment(CONTAINERS[entry.name]).get("ESTUARY_BUS_URL", "")
    found = BUS_URL.fullmatch(url)
    assert found, f"{entry.name}: ESTUARY_BUS_URL={url!r} is not the compose broker"
    assert found["host"] == "rabbitmq"
    assert found["user"] == broker["RABBITMQ_USER"]
    assert found["password"] == broker["RABBITMQ_PASSWORD"]


# Secrets -------------------------------------------------------------------------------------


def secret_parts(variable: str, value: str) -> list[str]:
    """The parts of a variable that are secret: the whole value, or a URL's password."""
    if SECRET_NAME.search(variable):
        return [value]
    return [found["password"] for found in re.finditer(r"://[^:/@]+:(?P<password>.+)@", value)]


def test_no_secret_is_written_into_the_compose_file() -> None:
    checked = 0
    for name, spec in CONTAINERS.items():
        for variable, value in environment(spec).items():
            for secret in secret_parts(variable, value):
                checked += 1
                assert OPERATOR_SUPPLIED.fullmatch(secret), (
                    f"{name}: {variable} holds {secret!r}; take it from the operator's .env "
                    "as ${VAR:?why} (or ${VAR:-} when optional)"
                )
    assert checked, "the compose file passes no secret at all, so none reaches the services"


# The image -----------------------------------------------------------------------------------


@dataclass
class Stage:
    """One stage of the Dockerfile: its name, its base image and its instructions."""

    name: str
    base: str
    instructions: list[tuple[str, str]]

    def all(self, keyword: str) -> list[str]:
        return [rest for found, rest in self.instructions if found == keyword]

    def copied_sources(self) -> list[str]:
        """What the stage copies from the build context (not from another stage)."""
        sources = []
        for rest in self.all("COPY"):
            words = rest.split()
            if not any(word.startswith("--from") for word in words):
                sources += [word.rstrip("/") for word in words[:-1] if not word.startswith("--")]
        return sources


def dockerfile_stages() -> dict[str, Stage]:
    """The Dockerfile's stages by name, in order, their base images' ARGs resolved."""
    text = re.sub(r"\\\n", " ", (ROOT / DOCKERFILE).read_text())
    defaults: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    for line in text.splitlines():
        keyword, _, rest = line.strip().partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if not keyword or keyword.startswith("#"):
            continue
        if keyword == "FROM":
            base, _, name = rest.partition(" AS ")
            base = re.sub(r"\$\{(\w+)\}", lambda ref: defaults[ref[1]], base.strip())
            stages[name.strip()] = Stage(name.strip(), base, [])
        elif stages:
            next(reversed(stages.values())).instructions.append((keyword, rest))
        elif keyword == "ARG":
            name, _, default = rest.partition("=")
            defaults[name] = default
    return stages


def test_every_container_is_built_from_the_repository_root() -> None:
    for name, spec in estuary_containers().items():
        assert spec["build"]["context"] == ".", name
    assert set(estuary_containers()) == {
        *BY_NAME,
        *(f"{entry.name}-migrate" for entry in SERVICES),
        "gateway",
    }


def test_the_image_runs_estuary_as_a_non_root_user() -> None:
    stages = dockerfile_stages()
    runtime = list(stages.values())[-1]
    assert {stage.base for stage in stages.values()} == {"python:3.11-slim"}
    assert [json.loads(form) for form in runtime.all("ENTRYPOINT")] == [["estuary"]]
    users = runtime.all("USER")
    assert users, "the runtime stage must switch to a non-root user"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {users[-1]}: a numeric, non-root uid"
    assert any("--from=builder" in rest for rest in runtime.all("COPY"))
    assert not runtime.copied_sources(), "the runtime stage takes only what the builder built"


def test_the_image_holds_no_secret() -> None:
    for stage in dockerfile_stages().values():
        for keyword in ("ENV", "ARG"):
            for rest in stage.all(keyword):
                assert not SECRET_NAME.search(rest.upper()), f"{stage.name}: {keyword} {rest}"


def test_the_image_generates_the_grpc_code_as_make_does() -> None:
    makefile = (ROOT / "Makefile").read_text()
    make_line = next(line for line in makefile.splitlines() if "grpc_tools.protoc" in line)
    flags = set(re.findall(r"-I\S+|--\w+_out", make_line))
    builder = dockerfile_stages()["builder"]
    protoc = [rest for rest in builder.all("RUN") if "grpc_tools.protoc" in rest]
    assert protoc, "the builder must generate gen/ from protos/"
    assert flags <= set(re.findall(r"-I\S+|--\w+_out", protoc[0])), flags
    assert ".pth" in protoc[0], "the venv must find the generated code, as `make setup` does"
    assert "protos" in builder.copied_sources()


def test_the_image_installs_the_lock_and_every_package() -> None:
    builder = dockerfile_stages()["builder"]
    assert "pip install -r requirements.lock" in builder.all("RUN")
    assert "pip install --no-deps ." in builder.all("RUN"), "installed, not editable"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    missing = {package.rstrip("*") for package in packages} - set(builder.copied_sources())
    assert not missing, f"the image would lack {sorted(missing)}"


def test_the_build_context_leaves_out_local_state() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    local_state = {".git", ".env", ".venv", "gen", "var", ".mypy_cache", ".pytest_cache"}
    assert local_state <= set(patterns), sorted(local_state - set(patterns))
    assert "**/__pycache__" in patterns
    for stage in dockerfile_stages().values():
        for source in stage.copied_sources():
            ignored = [pattern for pattern in patterns if fnmatch(source, pattern)]
            assert not ignored, f"the Dockerfile copies {source}, which {ignored} leave out"


@pytest.mark.parametrize("entry", services_params())
def test_the_services_that_keep_media_use_the_s3_server_with_the_operators_keys(
    entry: ServiceDeclaration,
) -> None:
    server = CONTAINERS[entry.name]
    given = {k: v for k, v in environment(server).items() if k.startswith("ESTUARY_MEDIA_")}
    if not manifests.keeps_media_objects(entry):
        assert given == {}, f"{entry.name} keeps no media"
        return
    assert given["ESTUARY_MEDIA_BACKEND"] == "s3"
    assert given["ESTUARY_MEDIA_ENDPOINT"] == "${ESTUARY_MEDIA_ENDPOINT:-http://seaweedfs:8333}"
    store = environment(CONTAINERS["seaweedfs"])
    # The store's one identity is the keys the services sign with, both from .env.
    assert store["AWS_ACCESS_KEY_ID"] == given["ESTUARY_MEDIA_ACCESS_KEY"]
    assert store["AWS_SECRET_ACCESS_KEY"] == given["ESTUARY_MEDIA_SECRET_KEY"]
    assert OPERATOR_SUPPLIED.fullmatch(given["ESTUARY_MEDIA_SECRET_KEY"])
    assert environment(CONTAINERS["seaweedfs-bucket"])["BUCKET"] == given["ESTUARY_MEDIA_BUCKET"]
    assert server["depends_on"]["seaweedfs-bucket"] == {
        "condition": "service_completed_successfully"
    }
    # Browsers upload to it and read from it directly.
    assert "8333:8333" in CONTAINERS["seaweedfs"]["ports"]
