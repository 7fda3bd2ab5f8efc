"""Monitoring shipped with the deploy files: the Grafana dashboard and the Prometheus alerts (Helm chart and
k8s/components/monitoring), the log and trace settings reaching every process, and — the check that keeps
them honest — every metric they query is one the gateway or the worker kit really exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_checks import REPO, Doc, containers, pod_templates, render_chart, role_of

CHART = REPO / "helm" / "modaline"
COMPONENT = REPO / "k8s" / "components" / "monitoring"
AUTH: dict[str, Any] = {"auth": {"signingKey": "test-only-signing-key-not-a-secret"}}
ON = {
    **AUTH,
    "grafanaDashboard": {"enabled": True},
    "prometheusRule": {"enabled": True, "skipCapabilityCheck": True},
}


def kind_of(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def exported_metric_names() -> set[str]:
    """Every sample name the gateway's and a worker's registries can expose (histogram buckets, counter
    ``_total`` and so on), from the classes that define them."""
    from prometheus_client import CollectorRegistry

    from gateway.metrics import Metrics
    from workers.kit.metrics import WorkerMetrics

    registries: list[CollectorRegistry] = [Metrics().registry, WorkerMetrics("llm", "fake").registry]
    names: set[str] = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    for registry in registries:
        for family in registry.collect():
            names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
    return names


def metric_names_in(expr: str) -> set[str]:
    return set(re.findall(r"\bmodaline_[a-z0-9_]+", expr))


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def rule_exprs(rule: Doc) -> list[str]:
    return [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]


def test_the_dashboard_and_alerts_query_only_metrics_the_code_exports() -> None:
    exported = exported_metric_names()
    dashboard = json.loads((CHART / "monitoring" / "dashboard.json").read_text())
    [rule] = kind_of(render_chart(CHART, ON), "PrometheusRule")
    used = {name for expr in dashboard_exprs(dashboard) + rule_exprs(rule) for name in metric_names_in(expr)}
    assert used, "no metric found in the dashboard or the alerts"
    assert used - exported == set(), f"queried but never exported: {sorted(used - exported)}"


def test_the_dashboard_covers_throughput_latency_errors_retries_queue_and_saturation() -> None:
    dashboard = json.loads((CHART / "monitoring" / "dashboard.json").read_text())
    exprs = "\n".join(dashboard_exprs(dashboard))
    assert "rate(modaline_jobs_finished_total" in exprs  # jobs/s
    assert re.search(
        r"histogram_quantile\(0\.95, sum by \(le, pipeline, step\)", exprs
    )  # per-step percentiles
    assert "modaline_worker_errors_total" in exprs and "modaline_step_retries_total" in exprs
    assert "modaline_queue_depth" in exprs and "modaline_queue_oldest_age_seconds" in exprs
    assert "modaline_worker_in_flight) / sum by (capability) (modaline_worker_max_concurrency" in exprs
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in dashboard["panels"]:  # every panel reads the dashboard's data source variable
        assert panel["datasource"]["uid"] == "${datasource}"


def test_helm_ships_the_dashboard_to_grafanas_sidecar_only_when_asked() -> None:
    assert not [d for d in render_chart(CHART, AUTH) if d["metadata"]["name"].endswith("-dashboard")]
    docs = render_chart(
        CHART, {**ON, "grafanaDashboard": {"enabled": True, "annotations": {"grafana_folder": "AI"}}}
    )
    [cm] = [d for d in kind_of(docs, "ConfigMap") if d["metadata"]["name"] == "modaline-dashboard"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"] == {"grafana_folder": "AI"}
    assert json.loads(cm["data"]["modaline.json"]) == json.loads(
        (CHART / "monitoring" / "dashboard.json").read_text()
    )


def test_helm_renders_the_alerts_only_where_the_prometheus_rule_api_exists() -> None:
    # helm install/upgrade ask the cluster; offline (as here, and as `helm template`) the API is not there.
    assert kind_of(render_chart(CHART, {**AUTH, "prometheusRule": {"enabled": True}}), "PrometheusRule") == []
    assert kind_of(render_chart(CHART, AUTH), "PrometheusRule") == []
    docs = render_chart(
        CHART, {**ON, "prometheusRule": {**ON["prometheusRule"], "labels": {"release": "kps"}}}
    )
    [rule] = kind_of(docs, "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kps"
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    assert set(alerts) == {
        "ModalineQueueGrowing",
        "ModalineQueueStalled",
        "ModalineJobErrorRate",
        "ModalineWorkerErrors",
        "ModalineNoRunnerAlive",
    }
    assert "absent(modaline_runner_up)" in alerts["ModalineNoRunnerAlive"]["expr"]
    for alert in alerts.values():  # Prometheus's own templating survives Helm's
        for text in alert["annotations"].values():
            assert "{{" not in text or re.search(r"\{\{ \$(value|labels)", text), text


def test_alert_thresholds_come_from_the_values() -> None:
    values = {**ON, "prometheusRule": {**ON["prometheusRule"], "queueAgeSeconds": 120, "errorRatio": 0.25}}
    [rule] = kind_of(render_chart(CHART, values), "PrometheusRule")
    exprs = "\n".join(rule_exprs(rule))
    assert "modaline_queue_oldest_age_seconds) > 120" in exprs and "> 0.25" in exprs


def test_the_kustomize_component_ships_the_charts_dashboard_and_default_alerts() -> None:
    assert (COMPONENT / "dashboard.json").read_bytes() == (
        CHART / "monitoring" / "dashboard.json"
    ).read_bytes()
    [helm_rule] = kind_of(render_chart(CHART, ON), "PrometheusRule")
    [k8s_rule] = [d for d in yaml.safe_load_all((COMPONENT / "prometheusrule.yaml").read_text()) if d]
    assert k8s_rule["spec"] == helm_rule["spec"]


def _env(container: Doc) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in container.get("env") or [] if "value" in e}


def test_log_format_and_traces_reach_the_gateway_and_every_worker() -> None:
    values = {
        **AUTH,
        "observability": {
            "logFormat": "text",
            "tracing": {
                "otlpEndpoint": "http://collector:4318",
                "sampler": "parentbased_traceidratio",
                "samplerArg": "0.1",
            },
        },
    }
    seen: dict[str, str] = {}
    for _, _, pod in pod_templates(render_chart(CHART, values)):
        for c in containers(pod, init=False):
            role = role_of(c)
            if role is None:
                continue
            env = _env(c)
            assert env["MODALINE_LOG_FORMAT"] == "text", c["name"]
            assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
            assert (env["OTEL_TRACES_SAMPLER"], env["OTEL_TRACES_SAMPLER_ARG"]) == (
                "parentbased_traceidratio",
                "0.1",
            )
            seen[env["OTEL_SERVICE_NAME"]] = role[0]
    assert {
        "modaline-gateway",
        "modaline-llm",
        "modaline-image",
        "modaline-stt",
        "modaline-tts",
        "modaline-cyclegan",
    } <= set(seen)


def test_without_an_endpoint_no_process_is_told_to_trace() -> None:
    for _, _, pod in pod_templates(render_chart(CHART, AUTH)):
        for c in containers(pod):
            assert not any(name.startswith("OTEL_") for name in _env(c)), c["name"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"observability": {"logFormat": "yaml"}}, "observability/logFormat"),
        (
            {"observability": {"tracing": {"otlpEndpoint": "collector:4318"}}},
            "observability/tracing/otlpEndpoint",
        ),
        ({"prometheusRule": {"errorRatio": 5}}, "prometheusRule/errorRatio"),
    ],
)
def test_helm_schema_refuses_bad_observability_values(values: dict[str, Any], message: str) -> None:
    import helm_python as helm

    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmError) as caught:
        chart.validate_schema({**AUTH, **values})
    assert message in str(caught.value)


def test_the_kustomize_overlay_sends_traces_from_the_gateway_and_every_worker() -> None:
    from deploy_checks import kustomize

    docs = kustomize(REPO / "k8s" / "overlays" / "monitoring")
    told = [
        owner["metadata"]["name"]
        for owner, _, pod in pod_templates(docs)
        for c in containers(pod, init=False)
        if "OTEL_EXPORTER_OTLP_ENDPOINT" in _env(c)
    ]
    assert sorted(told) == sorted(["gateway-api", "gateway-runner", "llm", "image", "stt", "tts", "cyclegan"])
    assert [
        d["metadata"]["labels"]["grafana_dashboard"]
        for d in docs
        if d["metadata"]["name"] == "modaline-dashboard"
    ] == ["1"]
    assert kind_of(docs, "PrometheusRule")


def test_path_of_the_dashboard_is_packaged_with_the_chart() -> None:
    ignored = (CHART / ".helmignore").read_text().splitlines()
    assert not any(
        Path("monitoring/dashboard.json").match(p.strip())
        for p in ignored
        if p.strip() and not p.startswith("#")
    )
