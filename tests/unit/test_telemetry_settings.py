"""The standard OTEL_* variables decide the resource's name and which signals are exported."""

from __future__ import annotations

import pytest

from chassis import telemetry


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in (
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_TRACES_EXPORTER",
        "OTEL_METRICS_EXPORTER",
        "OTEL_SDK_DISABLED",
    ):
        monkeypatch.delenv(name, raising=False)


def test_the_service_names_the_resource_unless_the_environment_does(monkeypatch):
    resource = telemetry.resource_for("catalog")
    assert resource.attributes["service.name"] == "catalog"
    assert resource.attributes["service.namespace"] == "estuary"
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes,team=ops")
    resource = telemetry.resource_for("catalog")
    assert resource.attributes["service.name"] == "from-attributes"
    assert resource.attributes["team"] == "ops"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "catalog-eu")
    assert telemetry.resource_for("catalog").attributes["service.name"] == "catalog-eu"


def test_export_needs_an_endpoint_and_can_be_turned_off_per_signal(monkeypatch):
    assert not telemetry._otlp_wanted("TRACES", None)
    assert telemetry._otlp_wanted("TRACES", "http://collector:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://collector:4317")
    assert telemetry._otlp_wanted("METRICS", None)
    assert not telemetry._otlp_wanted("TRACES", None)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    assert telemetry._otlp_wanted("TRACES", None)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert not telemetry._otlp_wanted("TRACES", "http://collector:4317")
    assert telemetry._otlp_wanted("METRICS", None)


def test_sdk_disabled_turns_everything_off(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert telemetry.configure_telemetry("identity", "http://collector:4317") is False
    assert not telemetry._configured
