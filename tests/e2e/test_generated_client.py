"""A new integrator's first steps: generate a Python client from the gateway's /openapi.json
with openapi-python-client (any warning fails), then walk a journey through that client
against the embedded suite: register, a typed 409 on a duplicate registration, a typed 400
naming the field, login, PATCH /users/me, a typed 401, and discovery page by page.

The same journey in TypeScript: openapi-typescript types the document, openapi-fetch calls it
(the versions pinned in typescript_client/package-lock.json), tsc --strict compiles it, node
runs it.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from suite.demo import seed_demo
from tests.e2e.accounts import PASSWORD, new_email
from tests.e2e.stacks import BackgroundEmbedded

PACKAGE = "estuary_client"
BIN = Path(sys.executable).parent
TYPESCRIPT = Path(__file__).parent / "typescript_client"


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Iterator[BackgroundEmbedded]:
    cheap_hashing = {"argon2_time_cost": 1, "argon2_memory_kib": 8}
    with BackgroundEmbedded(
        tmp_path_factory.mktemp("sdk-suite"), service_overrides={"identity": cheap_hashing}
    ) as running:
        yield running


@pytest.fixture(scope="module")
def discoverable(suite: BackgroundEmbedded) -> int:
    """Three demo practitioners with two services each: discovery has pages to turn."""
    services = suite.stack.suite.services
    report = suite.run(
        seed_demo(
            services["identity"].accounts,
            services["catalog"].catalog,
            practitioners=3,
            services_each=2,
        )
    )
    return report.services


def generate(document: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    """openapi-python-client as an integrator runs it; its post-hooks run ruff from the venv."""
    return subprocess.run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            str(document),
            "--output-path",
            str(folder / PACKAGE),
            "--meta",
            "none",
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        check=False,
    )


@pytest.fixture(scope="module")
def sdk(suite: BackgroundEmbedded, tmp_path_factory) -> Iterator[ModuleType]:
    folder = tmp_path_factory.mktemp("sdk")
    document = folder / "openapi.json"
    served = httpx.get(f"{suite.stack.base_url}/openapi.json")
    assert served.status_code == 200
    document.write_bytes(served.content)
    done = generate(document, folder)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "warning" not in output.lower(), output
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def sdk_module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_a_generated_client_registers_logs_in_edits_the_profile_and_discovers(
    suite: BackgroundEmbedded, sdk: ModuleType, discoverable: int
):
    register = sdk_module("api.auth.auth_register")
    login = sdk_module("api.auth.auth_login")
    get_me = sdk_module("api.users.users_get_me")
    update_me = sdk_module("api.users.users_update_me")
    list_services = sdk_module("api.services.services_list")
    models = sdk_module("models")
    base_url = suite.stack.base_url
    anonymous = sdk.Client(base_url=base_url, raise_on_unexpected_status=True)
    email = new_email("sdk")

    created = register.sync_detailed(
        client=anonymous,
        body=models.RegisterBody(email=email, password=PASSWORD, full_name="Ana Sousa"),
        idempotency_key="sdk-register-1",
    )
    assert created.status_code == 201, created.content
    assert isinstance(created.parsed, models.User)
    assert created.parsed.email == email
    assert created.parsed.roles == [models.Role.CLIENT]
    assert created.headers["x-request-id"]

    # The same address again: a typed problem, not an untyped body.
    taken = register.sync_detailed(
        client=anonymous,
        body=models.RegisterBody(email=email, password=PASSWORD, full_name="Ana Again"),
    )
    assert taken.status_code == 409
    assert isinstance(taken.parsed, models.Problem)
    assert taken.parsed.code == "EMAIL_TAKEN"
    assert taken.parsed.status == 409
    weak = register.sync_detailed(
        client=anonymous,
        body=models.RegisterBody(email=new_email("sdk"), password="short", full_name="Ana"),
    )
    assert weak.status_code == 400
    assert isinstance(weak.parsed, models.Problem)
    [violation] = weak.parsed.errors
    assert isinstance(violation, models.Violation)
    assert (violation.field, violation.code) == ("password", "too_short")

    tokens = login.sync(client=anonymous, body=models.LoginBody(email=email, password=PASSWORD))
    assert isinstance(tokens, models.TokenPair), tokens
    signed_in = sdk.AuthenticatedClient(
        base_url=base_url, token=tokens.access_token, raise_on_unexpected_status=True
    )
    patch = models.UserPatch(full_name="Ana Sousa Lima", timezone="Europe/Lisbon")
    patch.preferences = models.UserPatchPreferencesType0.from_dict({"newsletter": True})
    updated = update_me.sync(client=signed_in, body=patch)
    assert isinstance(updated, models.User), updated
    assert (updated.full_name, updated.timezone) == ("Ana Sousa Lima", "Europe/Lisbon")
    assert updated.preferences.to_dict() == {"newsletter": True}
    me = get_me.sync(client=signed_in)
    assert isinstance(me, models.User) and me.full_name == "Ana Sousa Lima"
    unauthenticated = get_me.sync_detailed(client=anonymous)
    assert unauthenticated.status_code == 401
    assert isinstance(unauthenticated.parsed, models.Problem)
    assert unauthenticated.parsed.code == "UNAUTHENTICATED"

    # Discovery, page by page with the cursor each page hands out.
    seen: list[str] = []
    cursor: Any = sdk_module("types").UNSET  # the first page
    pages = 0
    while True:
        page = list_services.sync(client=anonymous, limit=4, cursor=cursor)
        assert isinstance(page, models.ServicePage), page
        assert all(isinstance(s, models.Service) for s in page.results)
        seen += [s.id for s in page.results]
        pages += 1
        if not page.has_more:
            assert page.next_cursor is None
            break
        assert isinstance(page.next_cursor, str)
        cursor = page.next_cursor
    assert pages == 2
    assert len(seen) == len(set(seen)) == page.total == discoverable == 6


def run(command: list[str], folder: Path, timeout: int = 300) -> str:
    done = subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_a_typescript_client_compiles_with_tsc_and_walks_the_journey(
    suite: BackgroundEmbedded, discoverable: int, tmp_path
):
    npm, node = shutil.which("npm"), shutil.which("node")
    if not (npm and node):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("node and npm are needed for the TypeScript client check")
        pytest.skip("node and npm are not installed")
    for name in ("package.json", "package-lock.json", "tsconfig.json", "journey.ts"):
        shutil.copy(TYPESCRIPT / name, tmp_path / name)
    run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], tmp_path)
    served = httpx.get(f"{suite.stack.base_url}/openapi.json")
    (tmp_path / "openapi.json").write_bytes(served.content)
    tools = tmp_path / "node_modules" / ".bin"
    output = run([str(tools / "openapi-typescript"), "openapi.json", "-o", "api.d.ts"], tmp_path)
    assert "warn" not in output.lower(), output
    run([str(tools / "tsc"), "-p", "."], tmp_path)
    email = new_email("ts")
    seen = json.loads(
        run([node, "out/journey.js", suite.stack.base_url, email, PASSWORD], tmp_path, 60)
    )
    assert seen["register"] == 201
    assert seen["roles"] == ["client"]
    assert seen["duplicate"] == [409, "EMAIL_TAKEN", 409]
    assert seen["update"] == [200, "Ana Sousa Lima", "Europe/Lisbon"]
    assert seen["unauthenticated"] == [401, "UNAUTHENTICATED"]
    assert seen["discovery"]["pages"] == 2
    assert len(set(seen["discovery"]["ids"])) == discoverable == 6
