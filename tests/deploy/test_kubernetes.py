"""The Kubernetes manifests (deploy/k8s, kustomize), checked against the code.

The base is read as written; the production overlay is rendered with `kubectl kustomize`.
Every service in suite.registry.SERVICES must have its Deployment, Service and migration Job,
listen where its settings say, be probed with Kubernetes' native gRPC probe and be configured
only by settings that exist.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from gateway.settings import GatewaySettings
from suite.cli import _parser
from suite.registry import BY_NAME, SERVICES, ServiceEntry
from tests.infrastructure import IN_CI

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy/k8s/base"
PRODUCTION = ROOT / "deploy/k8s/overlays/production"
SHARED_CONFIG = "estuary-config"
BUS_SECRET = "estuary-bus"
IMAGE = "estuary"
# Settings that carry credentials: they come from Secrets, never from a ConfigMap or the manifest.
SECRET_SETTING = re.compile(r"PASSWORD|SECRET|CREDENTIALS|_URL$")

Resource = dict[str, Any]


def kustomization(directory: Path) -> Resource:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def base_resources() -> dict[tuple[str, str], Resource]:
    """Every resource the base lists, by (kind, name)."""
    found = {}
    for file in kustomization(BASE)["resources"]:
        for resource in yaml.safe_load_all((BASE / file).read_text()):
            found[(resource["kind"], resource["metadata"]["name"])] = resource
    return found


RESOURCES = base_resources()
WORKLOADS = sorted(key for key in RESOURCES if key[0] in ("Deployment", "Job"))


def shared_config() -> dict[str, str]:
    """The literals of the ConfigMap every workload reads."""
    generators = kustomization(BASE).get("configMapGenerator", [])
    generator = next(g for g in generators if g["name"] == SHARED_CONFIG)
    return dict(literal.split("=", 1) for literal in generator["literals"])


def resource(kind: str, name: str) -> Resource:
    found = RESOURCES.get((kind, name))
    assert found is not None, f"deploy/k8s/base has no {kind} {name}"
    return found


def container(workload: Resource) -> Resource:
    """A workload's one container."""
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{workload['metadata']['name']}: one container per pod"
    return containers[0]


def references(workload: Resource, kind: str) -> list[str]:
    """The ConfigMaps ("configMapRef") or Secrets ("secretRef") a container reads whole."""
    return [
        source[kind]["name"] for source in container(workload).get("envFrom", []) if kind in source
    ]


def environment(workload: Resource) -> dict[str, str]:
    """The variables a container gets from the manifests (Secrets' keys are the operator's)."""
    found: dict[str, str] = {}
    if SHARED_CONFIG in references(workload, "configMapRef"):
        found.update(shared_config())
    # An explicit env entry wins over envFrom, as in Kubernetes.
    found.update({env["name"]: env.get("value", "") for env in container(workload).get("env", [])})
    return found


def role(workload: Resource) -> tuple[str, str]:
    """What a workload runs: ("serve", "identity"), ("migrate", "catalog"), ("serve", "gateway")."""
    args = container(workload).get("args", [])
    assert len(args) == 2, f"expected `estuary <serve|migrate> <name>`, got {args}"
    return args[0], args[1]


def settings_for(workload: Resource) -> type[BaseSettings]:
    _, name = role(workload)
    return GatewaySettings if name == "gateway" else BY_NAME[name].settings


def settings_fields(settings: type[BaseSettings]) -> set[str]:
    return {f"ESTUARY_{name.upper()}" for name in settings.model_fields}


def port_named(ports: list[Resource], name: str, key: str) -> int:
    found = [port[key] for port in ports if port.get("name") == name]
    assert found, f"no port named {name}"
    return int(found[0])


def listening_port(workload: Resource, variable: str, settings: type[BaseSettings]) -> int:
    """Where the process listens: the variable the manifest sets, else the settings' default."""
    configured = environment(workload).get(variable)
    field = variable.removeprefix("ESTUARY_").lower()
    return int(configured) if configured else settings.model_fields[field].default


def services_params() -> list[Any]:
    return [pytest.param(entry, id=entry.name) for entry in SERVICES]


def workload_params() -> list[Any]:
    return [pytest.param(RESOURCES[key], id=f"{key[0]}/{key[1]}") for key in WORKLOADS]


# What each service has -----------------------------------------------------------------------


@pytest.mark.parametrize("entry", services_params())
def test_every_service_has_its_manifest_with_deployment_service_and_migration(
    entry: ServiceEntry,
) -> None:
    file = f"{entry.name}.yaml"
    assert file in kustomization(BASE)["resources"], f"the base does not list {file}"
    kinds = {
        (found["kind"], found["metadata"]["name"])
        for found in yaml.safe_load_all((BASE / file).read_text())
    }
    expected = {
        ("Deployment", entry.name),
        ("Service", entry.name),
        ("Job", f"{entry.name}-migrate"),
    }
    assert expected <= kinds, f"{file} lacks {sorted(expected - kinds)}"
    assert role(resource("Deployment", entry.name)) == ("serve", entry.name)
    assert role(resource("Job", f"{entry.name}-migrate")) == ("migrate", entry.name)


def test_the_gateway_has_a_deployment_and_a_service() -> None:
    assert role(resource("Deployment", "gateway")) == ("serve", "gateway")
    assert resource("Service", "gateway")


@pytest.mark.parametrize("workload", workload_params())
def test_every_container_runs_an_estuary_command(workload: Resource) -> None:
    running = container(workload)
    assert running["image"].split(":")[0] == IMAGE
    assert "command" not in running, "the image's ENTRYPOINT is estuary; give only args"
    try:
        _parser().parse_args([str(arg) for arg in running["args"]])
    except SystemExit:
        pytest.fail(f"`estuary {' '.join(running['args'])}` is not a valid command")


@pytest.mark.parametrize("workload", workload_params())
def test_every_variable_is_a_setting_of_the_process_reading_it(workload: Resource) -> None:
    settings = settings_for(workload)
    unknown = set(environment(workload)) - settings_fields(settings)
    assert not unknown, f"{sorted(unknown)} are not read by {settings.__name__}"


# Ports and probes ----------------------------------------------------------------------------


@pytest.mark.parametrize("entry", services_params())
def test_each_service_listens_on_its_default_port_on_every_interface(entry: ServiceEntry) -> None:
    deployment = resource("Deployment", entry.name)
    assert environment(deployment).get("ESTUARY_GRPC_HOST") == "0.0.0.0"
    assert (
        listening_port(deployment, "ESTUARY_GRPC_PORT", entry.settings) == entry.default_grpc_port
    )
    container_port = port_named(container(deployment).get("ports", []), "grpc", "containerPort")
    assert container_port == entry.default_grpc_port


@pytest.mark.parametrize("entry", services_params())
def test_each_service_is_reached_on_its_grpc_port_at_every_replica(entry: ServiceEntry) -> None:
    service = resource("Service", entry.name)
    ports = service["spec"]["ports"]
    assert port_named(ports, "grpc", "port") == entry.default_grpc_port
    assert [port["targetPort"] for port in ports if port["name"] == "grpc"] == ["grpc"]
    pod_labels = resource("Deployment", entry.name)["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    # Headless: gRPC connections are long-lived, so clients must see every replica.
    assert service["spec"].get("clusterIP") == "None"


@pytest.mark.parametrize("entry", services_params())
def test_each_service_is_probed_with_native_grpc_on_its_port(entry: ServiceEntry) -> None:
    running = container(resource("Deployment", entry.name))
    assert {"readinessProbe", "livenessProbe"} <= running.keys()
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        if kind in running:
            handlers = {"grpc", "httpGet", "tcpSocket", "exec"} & running[kind].keys()
            assert handlers == {"grpc"}, f"{kind} uses {handlers}"
            assert running[kind]["grpc"] == {"port": entry.default_grpc_port}, kind


def test_the_gateway_listens_and_is_probed_over_http() -> None:
    deployment = resource("Deployment", "gateway")
    running = container(deployment)
    assert environment(deployment).get("ESTUARY_HTTP_HOST") == "0.0.0.0"
    port = listening_port(deployment, "ESTUARY_HTTP_PORT", GatewaySettings)
    assert port_named(running["ports"], "http", "containerPort") == port
    assert running["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert running["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = resource("Service", "gateway")
    assert port_named(service["spec"]["ports"], "http", "port") == port
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


@pytest.mark.parametrize("workload", workload_params())
def test_every_address_is_a_service_and_its_grpc_port(workload: Resource) -> None:
    for variable, value in environment(workload).items():
        if variable.endswith("_ADDRESS"):
            host, _, port = value.rpartition(":")
            service = resource("Service", host)
            assert int(port) == port_named(service["spec"]["ports"], "grpc", "port"), variable


@pytest.mark.parametrize("entry", services_params())
def test_the_gateway_knows_where_every_service_is(entry: ServiceEntry) -> None:
    gateway = environment(resource("Deployment", "gateway"))
    address = gateway.get(f"ESTUARY_{entry.name.upper()}_ADDRESS")
    assert address == f"{entry.name}:{entry.default_grpc_port}"


# Security and configuration ------------------------------------------------------------------


@pytest.mark.parametrize("workload", workload_params())
def test_every_pod_runs_as_non_root_within_limits(workload: Resource) -> None:
    pod = workload["spec"]["template"]["spec"]
    running = container(workload)
    context = {**pod.get("securityContext", {}), **running.get("securityContext", {})}
    assert context.get("runAsNonRoot") is True
    assert context.get("runAsUser", 1) != 0
    assert context.get("allowPrivilegeEscalation") is False
    assert pod.get("automountServiceAccountToken") is False, "no pod talks to the API server"
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= running.get("resources", {}).get(bound, {}).keys(), bound


@pytest.mark.parametrize("workload", workload_params())
def test_every_workload_reads_the_shared_config_and_its_own_secret(workload: Resource) -> None:
    _, name = role(workload)
    assert references(workload, "configMapRef") == [SHARED_CONFIG]
    secrets = set(references(workload, "secretRef"))
    assert f"estuary-{name}" in secrets
    if workload["kind"] == "Deployment" and name != "gateway":
        assert BUS_SECRET in secrets, "a running service needs the broker's URL"


def test_no_secret_is_written_into_the_manifests() -> None:
    assert not [key for key in RESOURCES if key[0] == "Secret"], "the operator creates Secrets"
    plain = set(shared_config())
    for key in WORKLOADS:
        plain |= {env["name"] for env in container(RESOURCES[key]).get("env", [])}
    leaked = sorted(name for name in plain if SECRET_SETTING.search(name))
    assert not leaked, f"{leaked} must come from a Secret"


def test_every_secret_the_manifests_read_is_documented() -> None:
    readme = (ROOT / "deploy/README.md").read_text()
    secrets = {name for key in WORKLOADS for name in references(RESOURCES[key], "secretRef")}
    undocumented = sorted(name for name in secrets if f"`{name}`" not in readme)
    assert not undocumented, f"deploy/README.md does not say how to create {undocumented}"


# The production overlay, rendered ------------------------------------------------------------


@pytest.fixture(scope="module")
def production() -> list[Resource]:
    """`kubectl kustomize deploy/k8s/overlays/production`, parsed."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        reason = "kubectl is not installed, so the production overlay cannot be rendered"
        if IN_CI:
            pytest.fail(f"{reason}; CI requires it", pytrace=False)
        pytest.skip(f"{reason}; set CI=true to make this a failure")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(PRODUCTION)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    return [found for found in yaml.safe_load_all(rendered.stdout) if found]


def rendered(production: list[Resource], kind: str) -> dict[str, Resource]:
    return {found["metadata"]["name"]: found for found in production if found["kind"] == kind}


@pytest.mark.parametrize("entry", services_params())
def test_production_runs_every_service_in_its_namespace(
    production: list[Resource], entry: ServiceEntry
) -> None:
    namespace = kustomization(PRODUCTION)["namespace"]
    for kind, name in (
        ("Deployment", entry.name),
        ("Service", entry.name),
        ("Job", f"{entry.name}-migrate"),
    ):
        found = rendered(production, kind).get(name)
        assert found is not None, f"production renders no {kind} {name}"
        assert found["metadata"]["namespace"] == namespace


def test_production_replicates_everything_that_serves(production: list[Resource]) -> None:
    for name, deployment in rendered(production, "Deployment").items():
        assert deployment["spec"].get("replicas", 1) >= 2, f"{name} runs a single replica"


def test_production_runs_the_released_image_everywhere(production: list[Resource]) -> None:
    (image,) = [image for image in kustomization(PRODUCTION)["images"] if image["name"] == IMAGE]
    released = f"{image.get('newName', IMAGE)}:{image['newTag']}"
    for kind in ("Deployment", "Job"):
        for name, workload in rendered(production, kind).items():
            assert container(workload)["image"] == released, f"{kind} {name}"


def test_production_config_references_resolve(production: list[Resource]) -> None:
    # The generator suffixes the ConfigMap's name with its hash; every reference must follow.
    config_maps = rendered(production, "ConfigMap")
    assert any(name.startswith(f"{SHARED_CONFIG}-") for name in config_maps)
    for kind in ("Deployment", "Job"):
        for name, workload in rendered(production, kind).items():
            for reference in references(workload, "configMapRef"):
                assert reference in config_maps, f"{kind} {name} reads a missing {reference}"


def test_production_admits_only_the_suite_to_the_services(production: list[Resource]) -> None:
    policy = rendered(production, "NetworkPolicy").get("estuary-services")
    assert policy is not None, "production renders no estuary-services NetworkPolicy"
    guarded = policy["spec"]["podSelector"]["matchLabels"].items()
    (rule,) = policy["spec"]["ingress"]
    (source,) = rule["from"]
    admitted = source["podSelector"]["matchLabels"].items()
    pods = {
        name: deployment["spec"]["template"]["metadata"]["labels"].items()
        for name, deployment in rendered(production, "Deployment").items()
    }
    for entry in SERVICES:
        assert guarded <= pods[entry.name], f"the policy does not guard {entry.name}"
        assert admitted <= pods[entry.name], f"{entry.name} could not call the other services"
    assert not guarded <= pods["gateway"], "the gateway is the public entry"
    assert admitted <= pods["gateway"], "the gateway could not call the services"
