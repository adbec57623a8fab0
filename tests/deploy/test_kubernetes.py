"""The Kubernetes manifests (deploy/k8s, kustomize), rendered and checked against the code.

deploy/k8s/services/ is generated from the services' declarations (`estuary manifests`): one
thin overlay per service on the grpc-service component. The base and the production overlay
are rendered with `kubectl kustomize`; every declared service must come out with its
Deployment (migrations in an init container before the server), its headless Service and
its PodDisruptionBudget, listen where its declaration says, be probed with Kubernetes'
native gRPC probe and be configured only by settings that exist.
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

from chassis.service import ServiceDeclaration
from gateway.settings import GatewaySettings
from suite import manifests
from suite.cli import _parser
from suite.registry import BY_NAME, SERVICES
from tests.infrastructure import IN_CI

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays/production"
SHARED_CONFIG = "estuary-config"
BACKENDS_CONFIG = "estuary-backends"
BUS_SECRET = "estuary-bus"
IMAGE = "estuary"
# Settings that carry credentials: they come from Secrets, never from a ConfigMap or the manifest.
SECRET_SETTING = re.compile(r"PASSWORD|SECRET|CREDENTIALS|_URL$")

Resource = dict[str, Any]


def kustomize(directory: Path) -> list[Resource]:
    """`kubectl kustomize <directory>`, parsed; a failure (or a skip outside CI) without kubectl."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        reason = "kubectl is not installed, so the manifests cannot be rendered"
        if IN_CI:
            pytest.fail(f"{reason}; CI requires it", pytrace=False)
        pytest.skip(f"{reason}; set CI=true to make this a failure")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    return [found for found in yaml.safe_load_all(rendered.stdout) if found]


class Rendered:
    """One rendering of the manifests, looked up by kind and name."""

    def __init__(self, resources: list[Resource]) -> None:
        self.resources = resources

    def of(self, kind: str) -> dict[str, Resource]:
        return {r["metadata"]["name"]: r for r in self.resources if r["kind"] == kind}

    def get(self, kind: str, name: str) -> Resource:
        found = self.of(kind).get(name)
        assert found is not None, f"no {kind} {name} is rendered"
        return found

    def environment(self, container: Resource) -> dict[str, str]:
        """The variables a container gets from the manifests (Secrets' keys are the
        operator's): its ConfigMaps whole, then its own env entries, as Kubernetes does."""
        found: dict[str, str] = {}
        for reference in references(container, "configMapRef"):
            found.update(self.of("ConfigMap")[reference].get("data", {}))
        found.update({env["name"]: env.get("value", "") for env in container.get("env", [])})
        return found


@pytest.fixture(scope="module")
def base() -> Rendered:
    return Rendered(kustomize(BASE))


@pytest.fixture(scope="module")
def production() -> Rendered:
    return Rendered(kustomize(PRODUCTION))


def pod(workload: Resource) -> Resource:
    return workload["spec"]["template"]["spec"]


def server(workload: Resource) -> Resource:
    """A Deployment's one long-running container."""
    containers = pod(workload)["containers"]
    assert len(containers) == 1, f"{workload['metadata']['name']}: one container per pod"
    return containers[0]


def every_container(workload: Resource) -> list[Resource]:
    return [*pod(workload).get("initContainers", []), *pod(workload)["containers"]]


def references(container: Resource, kind: str) -> list[str]:
    """The ConfigMaps ("configMapRef") or Secrets ("secretRef") a container reads whole."""
    return [source[kind]["name"] for source in container.get("envFrom", []) if kind in source]


def role(container: Resource) -> tuple[str, str]:
    """What a container runs: ("serve", "identity"), ("migrate", "catalog")..."""
    args = container.get("args", [])
    assert len(args) == 2, f"expected `estuary <serve|migrate> <name>`, got {args}"
    return args[0], args[1]


def settings_for(container: Resource) -> type[BaseSettings]:
    _, name = role(container)
    return GatewaySettings if name == "gateway" else BY_NAME[name].settings


def settings_fields(settings: type[BaseSettings]) -> set[str]:
    fields = {f"ESTUARY_{name.upper()}" for name in settings.model_fields}
    if settings is GatewaySettings:
        fields |= {entry.address_variable for entry in SERVICES}
    return fields


def port_named(ports: list[Resource], name: str, key: str) -> int:
    found = [port[key] for port in ports if port.get("name") == name]
    assert found, f"no port named {name}"
    return int(found[0])


def services_params() -> list[Any]:
    return [pytest.param(entry, id=entry.name) for entry in SERVICES]


def deployment_params() -> list[Any]:
    return [pytest.param(name, id=name) for name in [*BY_NAME, "gateway"]]


def pod_labels(workload: Resource) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


# Generated from the declarations -------------------------------------------------------------


def test_the_committed_overlays_are_what_the_declarations_generate() -> None:
    generated = {
        path: text
        for path, text in manifests.render(SERVICES).items()
        if path.startswith(manifests.K8S_SERVICES)
    }
    committed = {
        str(path.relative_to(ROOT)): path.read_text()
        for path in (ROOT / manifests.K8S_SERVICES).rglob("kustomization.yaml")
    }
    assert committed == generated, "deploy/k8s/services/ is stale: run `estuary manifests`"


def test_no_declaration_leaks_into_what_is_applied(production: Rendered) -> None:
    # The overlays' service-declaration ConfigMaps are local config, for kustomize alone.
    names = set(production.of("ConfigMap"))
    assert not [name for name in names if "declaration" in name], names


# What each service has -----------------------------------------------------------------------


@pytest.mark.parametrize("entry", services_params())
def test_every_service_has_a_deployment_a_service_and_a_disruption_budget(
    base: Rendered, entry: ServiceDeclaration
) -> None:
    deployment = base.get("Deployment", entry.name)
    assert role(server(deployment)) == ("serve", entry.name)
    assert base.get("Service", entry.name)
    assert base.get("PodDisruptionBudget", entry.name)
    assert not base.of("Job"), "migrations run in each pod's init container, not in Jobs"


@pytest.mark.parametrize("entry", services_params())
def test_each_service_migrates_its_database_before_its_server_starts(
    base: Rendered, entry: ServiceDeclaration
) -> None:
    deployment = base.get("Deployment", entry.name)
    (migrate,) = pod(deployment).get("initContainers", [])
    assert role(migrate) == ("migrate", entry.name)
    assert migrate["image"] == server(deployment)["image"]
    # The same database: the server's config and its own Secret (the broker's it needs not).
    assert references(migrate, "configMapRef") == references(server(deployment), "configMapRef")
    assert references(migrate, "secretRef") == [f"estuary-{entry.name}"]


def test_the_gateway_has_a_deployment_a_service_and_a_disruption_budget(base: Rendered) -> None:
    assert role(server(base.get("Deployment", "gateway"))) == ("serve", "gateway")
    assert base.get("Service", "gateway")
    assert base.get("PodDisruptionBudget", "gateway")


@pytest.mark.parametrize("name", deployment_params())
def test_every_container_runs_an_estuary_command(base: Rendered, name: str) -> None:
    for running in every_container(base.get("Deployment", name)):
        assert running["image"].split(":")[0] == IMAGE
        assert "command" not in running, "the image's ENTRYPOINT is estuary; give only args"
        try:
            _parser().parse_args([str(arg) for arg in running["args"]])
        except SystemExit:
            pytest.fail(f"`estuary {' '.join(running['args'])}` is not a valid command")


@pytest.mark.parametrize("name", deployment_params())
def test_every_variable_is_a_setting_of_the_process_reading_it(base: Rendered, name: str) -> None:
    for running in every_container(base.get("Deployment", name)):
        settings = settings_for(running)
        unknown = set(base.environment(running)) - settings_fields(settings)
        assert not unknown, f"{running['name']}: {sorted(unknown)} not read by {settings.__name__}"


# Ports and probes ----------------------------------------------------------------------------


@pytest.mark.parametrize("entry", services_params())
def test_each_service_listens_on_its_declared_port_on_every_interface(
    base: Rendered, entry: ServiceDeclaration
) -> None:
    running = server(base.get("Deployment", entry.name))
    environment = base.environment(running)
    assert environment.get("ESTUARY_GRPC_HOST") == "0.0.0.0"
    assert environment.get("ESTUARY_GRPC_PORT") == str(entry.grpc_port)
    assert port_named(running.get("ports", []), "grpc", "containerPort") == entry.grpc_port


@pytest.mark.parametrize("entry", services_params())
def test_each_service_serves_its_metrics_on_the_port_it_announces_for_scraping(
    base: Rendered, entry: ServiceDeclaration
) -> None:
    workload = base.get("Deployment", entry.name)
    running = server(workload)
    port = int(base.environment(running)["ESTUARY_METRICS_PORT"])
    assert port_named(running.get("ports", []), "metrics", "containerPort") == port
    annotations = workload["spec"]["template"]["metadata"].get("annotations", {})
    assert annotations.get("prometheus.io/scrape") == "true"
    assert annotations.get("prometheus.io/port") == str(port)
    assert port != entry.grpc_port


@pytest.mark.parametrize("entry", services_params())
def test_each_service_is_reached_on_its_grpc_port_at_every_replica(
    base: Rendered, entry: ServiceDeclaration
) -> None:
    service = base.get("Service", entry.name)
    ports = service["spec"]["ports"]
    assert port_named(ports, "grpc", "port") == entry.grpc_port
    assert [port["targetPort"] for port in ports if port["name"] == "grpc"] == ["grpc"]
    labels = pod_labels(base.get("Deployment", entry.name))
    assert service["spec"]["selector"].items() <= labels.items()
    # Headless: gRPC connections are long-lived, so clients must see every replica.
    assert service["spec"].get("clusterIP") == "None"


@pytest.mark.parametrize("entry", services_params())
def test_each_service_is_probed_with_native_grpc_on_its_port(
    base: Rendered, entry: ServiceDeclaration
) -> None:
    running = server(base.get("Deployment", entry.name))
    assert {"readinessProbe", "livenessProbe"} <= running.keys()
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        if kind in running:
            handlers = {"grpc", "httpGet", "tcpSocket", "exec"} & running[kind].keys()
            assert handlers == {"grpc"}, f"{kind} uses {handlers}"
            assert running[kind]["grpc"] == {"port": entry.grpc_port}, kind


def test_the_gateway_listens_and_is_probed_over_http(base: Rendered) -> None:
    deployment = base.get("Deployment", "gateway")
    running = server(deployment)
    environment = base.environment(running)
    assert environment.get("ESTUARY_HTTP_HOST") == "0.0.0.0"
    port = int(
        environment.get("ESTUARY_HTTP_PORT", GatewaySettings.model_fields["http_port"].default)
    )
    assert port_named(running["ports"], "http", "containerPort") == port
    assert running["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert running["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = base.get("Service", "gateway")
    assert port_named(service["spec"]["ports"], "http", "port") == port
    assert service["spec"]["selector"].items() <= pod_labels(deployment).items()


@pytest.mark.parametrize("name", deployment_params())
def test_every_address_is_a_service_and_its_grpc_port(base: Rendered, name: str) -> None:
    for variable, value in base.environment(server(base.get("Deployment", name))).items():
        if variable.endswith("_ADDRESS"):
            host, _, port = value.rpartition(":")
            service = base.get("Service", host)
            assert int(port) == port_named(service["spec"]["ports"], "grpc", "port"), variable


@pytest.mark.parametrize("entry", services_params())
def test_the_gateway_knows_where_every_service_is(
    base: Rendered, entry: ServiceDeclaration
) -> None:
    gateway = base.environment(server(base.get("Deployment", "gateway")))
    assert gateway.get(entry.address_variable) == f"{entry.name}:{entry.grpc_port}"


@pytest.mark.parametrize("entry", services_params())
def test_each_service_knows_where_the_services_it_calls_are(
    base: Rendered, entry: ServiceDeclaration
) -> None:
    environment = base.environment(server(base.get("Deployment", entry.name)))
    for called in map(BY_NAME.__getitem__, entry.calls):
        assert environment.get(called.address_variable) == f"{called.name}:{called.grpc_port}"


# Security and configuration ------------------------------------------------------------------


@pytest.mark.parametrize("name", deployment_params())
def test_every_pod_runs_as_non_root_within_limits(base: Rendered, name: str) -> None:
    spec = pod(base.get("Deployment", name))
    assert spec.get("automountServiceAccountToken") is False, "no pod talks to the API server"
    for running in every_container(base.get("Deployment", name)):
        context = {**spec.get("securityContext", {}), **running.get("securityContext", {})}
        assert context.get("runAsNonRoot") is True
        assert context.get("runAsUser", 1) != 0
        assert context.get("allowPrivilegeEscalation") is False
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= running.get("resources", {}).get(bound, {}).keys(), bound


@pytest.mark.parametrize("name", deployment_params())
def test_every_workload_reads_the_shared_config_and_its_own_secret(
    base: Rendered, name: str
) -> None:
    running = server(base.get("Deployment", name))
    config_maps = [ref.rsplit("-", 1)[0] for ref in references(running, "configMapRef")]
    secrets = set(references(running, "secretRef"))
    assert f"estuary-{name}" in secrets
    if name == "gateway":
        assert config_maps == [SHARED_CONFIG, BACKENDS_CONFIG]
    else:
        assert config_maps == [SHARED_CONFIG]
        assert BUS_SECRET in secrets, "a running service needs the broker's URL"


def test_no_secret_is_written_into_the_manifests(base: Rendered) -> None:
    assert not base.of("Secret"), "the operator creates Secrets"
    plain: set[str] = set()
    for config_map in base.of("ConfigMap").values():
        plain |= set(config_map.get("data", {}))
    for name in [*BY_NAME, "gateway"]:
        for running in every_container(base.get("Deployment", name)):
            plain |= {env["name"] for env in running.get("env", [])}
    leaked = sorted(name for name in plain if SECRET_SETTING.search(name))
    assert not leaked, f"{leaked} must come from a Secret"


def test_every_secret_the_manifests_read_is_documented(base: Rendered) -> None:
    readme = (ROOT / "deploy/README.md").read_text()
    secrets = {
        secret
        for name in [*BY_NAME, "gateway"]
        for running in every_container(base.get("Deployment", name))
        for secret in references(running, "secretRef")
    }
    # A service's own Secret is documented once for all of them, as estuary-<service>.
    per_service = {f"estuary-{name}" for name in BY_NAME}
    assert per_service <= secrets
    assert "`estuary-<service>`" in readme, "deploy/README.md must say what a service's holds"
    undocumented = sorted(name for name in secrets - per_service if f"`{name}`" not in readme)
    assert not undocumented, f"deploy/README.md does not say how to create {undocumented}"


# The production overlay ----------------------------------------------------------------------


def production_namespace() -> str:
    return str(yaml.safe_load((PRODUCTION / "kustomization.yaml").read_text())["namespace"])


@pytest.mark.parametrize("entry", services_params())
def test_production_runs_every_service_in_its_namespace(
    production: Rendered, entry: ServiceDeclaration
) -> None:
    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        found = production.get(kind, entry.name)
        assert found["metadata"]["namespace"] == production_namespace(), f"{kind} {entry.name}"


def test_production_replicates_everything_that_serves(production: Rendered) -> None:
    deployments = production.of("Deployment")
    assert set(deployments) == {*BY_NAME, "gateway"}
    for name, deployment in deployments.items():
        assert deployment["spec"].get("replicas", 1) >= 2, f"{name} runs a single replica"


def test_production_keeps_every_deployment_serving_through_drains_and_rollouts(
    production: Rendered,
) -> None:
    budgets = production.of("PodDisruptionBudget")
    for name, deployment in production.of("Deployment").items():
        labels = pod_labels(deployment)
        guarding = [
            budget
            for budget in budgets.values()
            if budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(guarding) == 1, f"{name}: {len(guarding)} disruption budgets select its pods"
        (budget,) = guarding
        others = [d for n, d in production.of("Deployment").items() if n != name]
        selector = budget["spec"]["selector"]["matchLabels"].items()
        assert not [d for d in others if selector <= pod_labels(d).items()], "its pods alone"
        replicas = deployment["spec"]["replicas"]
        if "maxUnavailable" in budget["spec"]:
            assert 1 <= int(budget["spec"]["maxUnavailable"]) < replicas, name
        else:
            assert 1 <= int(budget["spec"]["minAvailable"]) < replicas, name
        rolling = deployment["spec"]["strategy"]["rollingUpdate"]
        assert rolling["maxUnavailable"] == 0, f"{name}: a rollout removes a pod first"


def test_production_spreads_every_deployment_across_nodes(production: Rendered) -> None:
    for name, deployment in production.of("Deployment").items():
        constraints = pod(deployment).get("topologySpreadConstraints", [])
        keys = {c["topologyKey"] for c in constraints}
        assert "kubernetes.io/hostname" in keys, f"{name} is not spread across nodes"
        for constraint in constraints:
            selector = constraint["labelSelector"]["matchLabels"]
            assert selector == {"app.kubernetes.io/name": name}, f"{name} spreads {selector}"


def test_production_runs_the_released_image_everywhere(production: Rendered) -> None:
    overlay = yaml.safe_load((PRODUCTION / "kustomization.yaml").read_text())
    (image,) = [image for image in overlay["images"] if image["name"] == IMAGE]
    released = f"{image.get('newName', IMAGE)}:{image['newTag']}"
    for name, deployment in production.of("Deployment").items():
        for running in every_container(deployment):
            assert running["image"] == released, f"{name}/{running['name']}"


def test_production_config_references_resolve(production: Rendered) -> None:
    # The generator suffixes each ConfigMap's name with its hash; every reference must follow.
    config_maps = production.of("ConfigMap")
    for prefix in (SHARED_CONFIG, BACKENDS_CONFIG):
        assert any(name.startswith(f"{prefix}-") for name in config_maps), prefix
    for name, deployment in production.of("Deployment").items():
        for running in every_container(deployment):
            for reference in references(running, "configMapRef"):
                assert reference in config_maps, f"{name} reads a missing {reference}"


def test_production_admits_only_the_suite_to_the_services(production: Rendered) -> None:
    policy = production.get("NetworkPolicy", "estuary-services")
    guarded = policy["spec"]["podSelector"]["matchLabels"].items()
    suite_rule, scrape_rule = policy["spec"]["ingress"]
    (source,) = suite_rule["from"]
    admitted = source["podSelector"]["matchLabels"].items()
    # Outside the suite, only a namespace the operator marks for Prometheus, and only the
    # metrics port.
    (scraper,) = scrape_rule["from"]
    assert set(scraper) == {"namespaceSelector"}
    assert scrape_rule["ports"] == [{"port": "metrics"}]
    pods = {name: pod_labels(d).items() for name, d in production.of("Deployment").items()}
    for entry in SERVICES:
        assert guarded <= pods[entry.name], f"the policy does not guard {entry.name}"
        assert admitted <= pods[entry.name], f"{entry.name} could not call the other services"
    assert not guarded <= pods["gateway"], "the gateway is the public entry"
    assert admitted <= pods["gateway"], "the gateway could not call the services"


@pytest.mark.parametrize("name", deployment_params())
def test_the_services_that_keep_media_read_the_media_stores_secret(
    base: Rendered, name: str
) -> None:
    running = server(base.get("Deployment", name))
    reads_media = manifests.MEDIA_SECRET in references(running, "secretRef")
    keeps_media = name != "gateway" and manifests.keeps_media_objects(BY_NAME[name])
    assert reads_media == keeps_media, name


def test_messaging_keeps_media() -> None:
    assert manifests.keeps_media_objects(BY_NAME["messaging"])
