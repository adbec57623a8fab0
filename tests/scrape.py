"""Reading metrics as Prometheus scrapes them, for tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from chassis import metrics
from chassis.telemetry import resource_for


def metrics_on() -> None:
    """This process's meter provider with its Prometheus reader, as `estuary serve` and
    `estuary up` install it (no OTLP export, no tracing whatever the environment says)."""
    metrics.configure_metrics(resource_for("tests"), otlp=False)


def scrape() -> str:
    """The process's metrics, as a scraper reads them."""
    body, _content_type = metrics.prometheus_text()
    return body.decode()


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 if none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def series(text: str, name: str, **labels: str) -> list[dict[str, str]]:
    """The label sets of the samples named `name` that include `labels`."""
    return [
        sample.labels
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]
