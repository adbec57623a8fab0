"""A service is one folder and one declaration: everything outside its folder follows.

A toy service is written into a temporary folder (its declaration, its composition root, its
migrations and an operator command) and registered by one line; nothing else is edited. It
must start in the embedded suite after the service it calls, be a choice of the `estuary`
command with its own operator command, be one of the gateway's backends (channel, declared
stub, readiness), and come out of the generated compose file and Kubernetes manifests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from grpc_health.v1 import health_pb2

from chassis.service import Imported, ServiceDeclaration, in_start_order
from chassis.settings import ServiceSettings
from suite import manifests
from suite.cli import _parser
from suite.embedded import EmbeddedSuite
from suite.registry import DECLARED, SERVICES, declared
from tests.deploy.test_kubernetes import kustomize
from tests.e2e.stacks import wait_ready

ROOT = Path(__file__).resolve().parents[2]
TOY_PORT = 50077

TOY = {
    "toyshop/__init__.py": '"""A toy service: a folder and a declaration."""\n',
    "toyshop/service.py": f'''
        """The toy shop, as everything outside its folder knows it."""

        from pathlib import Path

        from chassis.service import ServiceDeclaration
        from chassis.settings import ServiceSettings

        SERVICE = ServiceDeclaration(
            name="toyshop",
            grpc_port={TOY_PORT},
            settings=ServiceSettings,
            bootstrap="toyshop.bootstrap:build",
            migrations=Path(__file__).parent / "migrations",
            calls=("identity",),
            stubs={{"toyshop_health": "grpc_health.v1.health_pb2_grpc:HealthStub"}},
            commands="toyshop.commands:add_commands",
        )
    ''',
    "toyshop/bootstrap.py": '''
        """The toy shop's composition root: a runtime serving health alone."""

        from dataclasses import dataclass
        from typing import Any

        from chassis.auth.remote import identity_jwks
        from chassis.auth.tokens import KeySet, TokenVerifier
        from chassis.grpc_client import open_channel
        from chassis.runtime import ServiceRuntime


        @dataclass
        class Toyshop:
            runtime: ServiceRuntime
            verifier: TokenVerifier
            identity: Any

            async def start(self) -> int:
                return await self.runtime.start(bindings=[], verifier=self.verifier)

            async def stop(self) -> None:
                await self.runtime.stop()
                await self.identity.close()


        def build(settings, *, transport, clock=None):
            runtime = ServiceRuntime(settings, transport=transport, clock=clock)
            identity = open_channel(settings.identity_address)
            verifier = TokenVerifier(
                KeySet(identity_jwks(identity)),
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                clock=runtime.clock,
            )
            return Toyshop(runtime, verifier, identity)
    ''',
    "toyshop/commands.py": '''
        """The toy shop's operator command: `estuary toys`."""


        def add_commands(cli):
            async def toys(args):
                service = await cli.offline(args, migrate=True)
                try:
                    print(f"toys in {service.runtime.database.engine.url.database}")
                finally:
                    await service.runtime.database.dispose()

            cli.commands.add_parser("toys", parents=cli.common).set_defaults(run=toys)
    ''',
    "toyshop/migrations/env.py": """
        import sqlalchemy as sa

        from chassis.migrations import run_env

        run_env(sa.MetaData(), "toyshop")
    """,
    "toyshop/migrations/versions/0001_chassis_tables.py": '''
        """The chassis's tables."""

        from chassis.migrations import (
            create_chassis_tables_v1,
            create_chassis_tables_v2,
            drop_chassis_tables_v1,
            drop_chassis_tables_v2,
        )

        revision = "0001"
        down_revision = None
        branch_labels = None
        depends_on = None


        def upgrade() -> None:
            create_chassis_tables_v1()
            create_chassis_tables_v2()


        def downgrade() -> None:
            drop_chassis_tables_v2()
            drop_chassis_tables_v1()
    ''',
}


@pytest.fixture
def suite_with_toy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ServiceDeclaration, ...]]:
    """The registry's services plus the toy, registered by one more line."""
    folder = tmp_path / "toy"
    for relative, text in TOY.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    monkeypatch.syspath_prepend(str(folder))
    yield declared((*DECLARED, "toyshop.service"))
    for name in [m for m in sys.modules if m == "toyshop" or m.startswith("toyshop.")]:
        del sys.modules[name]


def toy(declarations: tuple[ServiceDeclaration, ...]) -> ServiceDeclaration:
    return next(d for d in declarations if d.name == "toyshop")


async def test_the_toy_runs_in_the_embedded_suite_behind_the_gateway(
    suite_with_toy: tuple[ServiceDeclaration, ...], tmp_path: Path
) -> None:
    declarations = suite_with_toy
    names = [d.name for d in declarations]
    assert names.index("toyshop") > names.index("identity"), "it starts after what it calls"
    suite = EmbeddedSuite(
        data_dir=tmp_path / "data",
        gateway_port=0,
        grpc_ports={d.name: 0 for d in declarations},
        declarations=declarations,
    )
    await suite.start()
    try:
        assert set(suite.services) == set(names)
        settings = suite.services["toyshop"].runtime.settings
        assert settings.service_name == "toyshop"
        assert settings.identity_address == f"127.0.0.1:{suite.ports['identity']}"
        assert settings.database_url.endswith("/toyshop.db")
        async with httpx.AsyncClient(base_url=suite.gateway_url) as client:
            ready = await wait_ready(client)
        assert ready.status_code == 200, ready.text
        assert ready.json()["backends"]["toyshop"] == "SERVING"
        backends = suite.gateway_app.state.backends
        assert set(backends.channels) == set(names)
        reply = await backends.toyshop_health.Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await suite.stop()


async def test_the_toy_is_a_choice_of_the_estuary_command_with_its_own_command(
    suite_with_toy: tuple[ServiceDeclaration, ...], tmp_path: Path
) -> None:
    parser = _parser(suite_with_toy)
    for argv in (["serve", "toyshop"], ["migrate", "toyshop"]):
        assert parser.parse_args(argv).service == "toyshop"
    with pytest.raises(SystemExit):
        _parser().parse_args(["serve", "toyshop"])
    args = parser.parse_args(["toys", "--data-dir", str(tmp_path / "data")])
    await args.run(args)
    assert (tmp_path / "data" / "toyshop.db").exists(), "its command used the data folder"


def test_the_toy_comes_out_of_the_generated_compose_file(
    suite_with_toy: tuple[ServiceDeclaration, ...],
) -> None:
    files = manifests.render(suite_with_toy)
    containers = yaml.safe_load(files[manifests.COMPOSE])["services"]
    assert containers["toyshop-migrate"]["command"] == ["migrate", "toyshop"]
    server = containers["toyshop"]
    assert server["command"] == ["serve", "toyshop"]
    assert server["environment"]["ESTUARY_GRPC_PORT"] == str(TOY_PORT)
    assert server["environment"]["ESTUARY_DATABASE_URL"].endswith("@postgres:5432/toyshop")
    assert server["environment"]["ESTUARY_IDENTITY_ADDRESS"] == "identity:50051"
    assert set(server["depends_on"]) == {"toyshop-migrate", "rabbitmq", "identity"}
    gateway = containers["gateway"]
    assert gateway["environment"]["ESTUARY_TOYSHOP_ADDRESS"] == f"toyshop:{TOY_PORT}"
    assert "toyshop" in gateway["depends_on"]
    assert "CREATE DATABASE toyshop;" in files[manifests.POSTGRES_INIT]


def test_the_toy_comes_out_of_the_rendered_kubernetes_manifests(
    suite_with_toy: tuple[ServiceDeclaration, ...], tmp_path: Path
) -> None:
    shutil.copytree(ROOT / "deploy/k8s", tmp_path / "deploy/k8s")
    manifests.write(tmp_path, suite_with_toy, check=False)
    rendered = kustomize(tmp_path / "deploy/k8s/overlays/production")
    found = {(r["kind"], r["metadata"]["name"]): r for r in rendered}
    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        assert (kind, "toyshop") in found, f"no {kind} toyshop"
    pod = found["Deployment", "toyshop"]["spec"]["template"]["spec"]
    assert pod["initContainers"][0]["args"] == ["migrate", "toyshop"]
    assert pod["containers"][0]["args"] == ["serve", "toyshop"]
    assert pod["containers"][0]["ports"] == [
        {"name": "grpc", "containerPort": TOY_PORT},
        {"name": "metrics", "containerPort": manifests.METRICS_PORT},
    ]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["ESTUARY_IDENTITY_ADDRESS"] == "identity:50051"
    service_ports = found["Service", "toyshop"]["spec"]["ports"]
    assert service_ports[0]["port"] == TOY_PORT
    backends = next(
        r for (kind, name), r in found.items() if kind == "ConfigMap" and "backends" in name
    )
    assert backends["data"]["ESTUARY_TOYSHOP_ADDRESS"] == f"toyshop:{TOY_PORT}"


# The declaration's own rules -----------------------------------------------------------------


def declaration(name: str, *calls: str, settings: type[ServiceSettings] = ServiceSettings) -> Any:
    return ServiceDeclaration(
        name=name,
        grpc_port=50100,
        settings=settings,
        bootstrap="nowhere:build",
        migrations=Path("."),
        calls=calls,
    )


def test_each_service_starts_after_those_it_calls() -> None:
    # ServiceSettings reads identity_address only, so these call identity or nothing.
    identity, a, b = declaration("identity"), declaration("a", "identity"), declaration("b")
    assert [d.name for d in in_start_order([a, b, identity])] == ["identity", "a", "b"]
    order = [d.name for d in SERVICES]
    assert order[0] == "identity"
    assert all(order.index(called) < order.index(d.name) for d in SERVICES for called in d.calls)


def test_a_declaration_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValueError, match="has no catalog_address"):
        declaration("booking", "catalog")
    with pytest.raises(ValueError, match="not declared"):
        in_start_order([declaration("a", "identity")])
    with pytest.raises(ValueError, match="declared twice"):
        in_start_order([declaration("identity"), declaration("identity")])
    with pytest.raises(ValueError, match="lower-case"):
        declaration("Booking")


def test_a_cycle_of_calls_is_refused() -> None:
    class Both(ServiceSettings):
        a_address: str = ""
        b_address: str = ""

    a = declaration("a", "b", settings=Both)
    b = declaration("b", "a", settings=Both)
    with pytest.raises(ValueError, match="cycle: a -> b -> a"):
        in_start_order([a, b])


def test_reading_the_declarations_loads_no_service() -> None:
    # The gateway reads every declaration; it must not load handlers, repositories or SQL.
    probe = (
        "import sys, suite.registry, gateway.backends; "
        "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'alembic')) "
        "or (m.startswith('services.') and not m.endswith(('.service', '.settings')))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    # Only the packages that hold the declarations (services.<name>/__init__.py, a docstring).
    assert loaded.stdout.strip() == str(sorted(f"services.{s.name}" for s in SERVICES))


def test_events_are_loaded_when_first_read() -> None:
    events = Imported[Any]("services.identity.events:EMITTED")
    assert "services.identity.events" in repr(events)
    assert "user.registered" in {event.name for event in events}
    with pytest.raises(ValueError, match="import path"):
        list(Imported[Any]("services.identity.events"))
