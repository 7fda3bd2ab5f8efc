"""Every Kubernetes rendering of Modaline (kustomize base and overlays, the Helm chart with each values file in
tests/deploy/values/) against the Kubernetes schemas in strict mode and the cross-reference checks of
deploy_checks.py; plus what each overlay and values file promises."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_checks import (
    CAPABILITIES,
    REPO,
    Doc,
    containers,
    find,
    kustomize,
    manifest_checks,
    pod_templates,
    render_chart,
    render_notes,
    resolved_env,
    role_of,
    schema_problems,
)

CHART = REPO / "helm" / "modaline"
VALUES_DIR = Path(__file__).parent / "values"
VALUES_FILES = sorted(p.name for p in VALUES_DIR.glob("*.yaml"))
KUSTOMIZATIONS = ["k8s", "k8s/overlays/local", "k8s/overlays/external-db"]
SOURCES = [f"kustomize:{k}" for k in KUSTOMIZATIONS] + [f"helm:{v}" for v in VALUES_FILES]


def values_of(name: str) -> dict[str, Any]:
    return yaml.safe_load((VALUES_DIR / name).read_text()) or {}


@functools.cache
def rendered(source: str) -> tuple[Doc, ...]:
    kind, _, what = source.partition(":")
    docs = kustomize(REPO / what) if kind == "kustomize" else render_chart(CHART, values_of(what))
    return tuple(docs)


def docs_of(source: str) -> list[Doc]:
    return [dict(d) for d in rendered(source)]


def externals(source: str) -> tuple[list[str], list[str]]:
    """Secrets and claims a rendering expects to exist already (named by its values)."""
    if not source.startswith("helm:"):
        return [], []
    v = values_of(source.partition(":")[2])
    secrets = [v.get("secrets", {}).get("existingSecret"), v.get("database", {}).get("existingSecret")]
    claims = [v.get("files", {}).get("existingClaim")]
    return [s for s in secrets if s], [c for c in claims if c]


def test_every_values_file_and_kustomization_is_covered() -> None:
    assert {
        "default.yaml",
        "minimal.yaml",
        "local-offline.yaml",
        "external-db-ingress-servicemonitor.yaml",
    } <= set(VALUES_FILES)
    for k in KUSTOMIZATIONS:
        assert (REPO / k / "kustomization.yaml").is_file()


@pytest.mark.parametrize("source", SOURCES)
def test_schema_strict(source: str) -> None:
    docs = docs_of(source)
    assert len(docs) >= 8, f"{source} rendered only {len(docs)} objects"
    problems = schema_problems(docs)
    assert not problems, "\n".join(problems)


CHECK_NAMES = list(manifest_checks())


#: Renderings that turn NetworkPolicies off on purpose (networkPolicy.enabled=false): the policy check does not
#: apply to them; test_network_policies_can_be_turned_off checks they really render none.
WITHOUT_NETWORK_POLICIES = {"helm:minimal.yaml"}
CROSS_REFERENCE_CASES = [
    (source, check)
    for source in SOURCES
    for check in CHECK_NAMES
    if not (check == "network_policies" and source in WITHOUT_NETWORK_POLICIES)
]


@pytest.mark.parametrize(("source", "check"), CROSS_REFERENCE_CASES)
def test_cross_references(source: str, check: str) -> None:
    secrets, claims = externals(source)
    problems = manifest_checks(secrets, claims)[check](docs_of(source))
    assert not problems, f"{source}: " + "\n".join(problems)


@pytest.mark.parametrize("source", sorted(WITHOUT_NETWORK_POLICIES))
def test_network_policies_can_be_turned_off(source: str) -> None:
    assert values_of(source.removeprefix("helm:"))["networkPolicy"]["enabled"] is False
    assert [d for d in docs_of(source) if d["kind"] == "NetworkPolicy"] == []


def _workers(docs: list[Doc]) -> dict[str, tuple[Doc, Doc]]:
    """capability -> (owner, worker container)."""
    found = {}
    for owner, _, pod in pod_templates(docs):
        for c in containers(pod, init=False):
            role = role_of(c)
            if role and role[0] == "worker":
                found[role[1]] = (owner, c)
    return found


def _env(c: Doc) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in c.get("env") or []}


def _mem(q: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 1e3, "M": 1e6, "G": 1e9}
    m = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(q))
    assert m, q
    return float(m.group(1)) * units.get(m.group(2), 1)


@pytest.mark.parametrize("source", ["kustomize:k8s", "helm:default.yaml"])
def test_all_five_workers_and_both_gateway_roles_run(source: str) -> None:
    docs = docs_of(source)
    assert set(_workers(docs)) == set(CAPABILITIES)
    roles = set()
    for _owner, _, pod in pod_templates(docs):
        for c in containers(pod, init=False):
            if role_of(c) == ("gateway", "serve"):
                roles.add(_env(c).get("MODALINE_ROLE"))
    assert roles == {"api", "runner"}
    # migrations run explicitly before the API serves
    api = [
        o
        for o, _, pod in pod_templates(docs)
        if any(role_of(c) == ("gateway", "migrate") for c in pod.get("initContainers") or [])
    ]
    assert api, "no init container runs `python -m gateway migrate`"


def test_kustomize_base_puts_everything_in_the_restricted_namespace() -> None:
    docs = docs_of("kustomize:k8s")
    ns = find(docs, "Namespace", "modaline", "default")
    assert ns is not None and ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"modaline"}
    pvc = find(docs, "PersistentVolumeClaim", "modaline-files", "modaline")
    assert pvc is not None and pvc["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize("source", ["kustomize:k8s/overlays/local", "helm:local-offline.yaml"])
def test_offline_mode_uses_local_engines_with_more_memory_and_time(source: str) -> None:
    base = _workers(docs_of("kustomize:k8s" if source.startswith("kustomize") else "helm:default.yaml"))
    local = _workers(docs_of(source))
    keep_remote = (
        set(values_of("local-offline.yaml").get("workers", {})) if source.startswith("helm") else set()
    )
    keep_remote = {
        w for w in keep_remote if values_of("local-offline.yaml")["workers"][w].get("local") is False
    }
    for cap, (_, c) in local.items():
        if cap in keep_remote:
            assert "worker-local" not in c["image"]
            continue
        assert "/worker-local:" in c["image"], f"{cap}: {c['image']}"
        assert _env(c)[f"{cap.upper()}_BACKEND"] == "local"
        assert _mem(c["resources"]["limits"]["memory"]) >= _mem(base[cap][1]["resources"]["limits"]["memory"])
        startup = c["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 600, (
            f"{cap}: startup allowance too short"
        )
    assert len(local) == 5


@pytest.mark.parametrize(
    "source",
    [
        "kustomize:k8s/overlays/external-db",
        "helm:external-db-ingress-servicemonitor.yaml",
        "helm:minimal.yaml",
    ],
)
def test_external_database_has_no_bundled_postgresql(source: str) -> None:
    docs = docs_of(source)
    assert not [d for d in docs if d["kind"] == "StatefulSet"]
    assert not [d for d in docs if "postgres" in d["metadata"]["name"]]


def test_external_db_overlay_points_the_gateway_elsewhere() -> None:
    secret = find(docs_of("kustomize:k8s/overlays/external-db"), "Secret", "modaline-secrets", "modaline")
    assert secret is not None
    assert "POSTGRES_PASSWORD" not in secret["stringData"]
    assert "@postgresql:" not in secret["stringData"]["DATABASE_URL"]


def _normalised(value: Any, cap: str) -> Any:
    """``value`` with the capability's name and provider key replaced by placeholders (in values only)."""
    if isinstance(value, dict):
        return {k: _normalised(v, cap) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v, cap) for v in value]
    if isinstance(value, str):
        key = "OPENROUTER_API_KEY" if cap == "llm" else "HF_TOKEN"
        value = "<KEY>" if value == key else value
        return "<CAP>" if value == cap else re.sub(rf"^{cap.upper()}_", "<CAP>_", value)
    return value


def test_k8s_worker_blocks_differ_only_by_capability() -> None:
    """k8s/base/workers.yaml repeats one block per worker (plain YAML for kubectl users); it must not drift."""
    docs = [d for d in yaml.safe_load_all((REPO / "k8s/base/workers.yaml").read_text()) if d]
    by_cap: dict[str, list[Doc]] = {c: [] for c in CAPABILITIES}
    for d in docs:
        by_cap[d["metadata"]["name"]].append(d)
    normal = {cap: yaml.safe_dump(_normalised(objs, cap), sort_keys=True) for cap, objs in by_cap.items()}
    assert all(len(objs) == 4 for objs in by_cap.values())
    assert len(set(normal.values())) == 1, (
        "the worker blocks of k8s/base/workers.yaml differ beyond the capability"
    )


def _pipelines(docs: list[Doc]) -> dict[str, str]:
    return {
        f"{d['metadata']['name']}/{k}": v
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("pipelines")
        for k, v in (d.get("data") or {}).items()
    }


def test_pipeline_configmaps_hold_valid_pipelines() -> None:
    loader = pytest.importorskip("gateway.pipelines.loader")
    found = {}
    for source in SOURCES:
        found.update({f"{source} {k}": v for k, v in _pipelines(docs_of(source)).items()})
    assert any(s.startswith("kustomize:k8s ") for s in found) and any(
        s.startswith("helm:external-db") for s in found
    )
    for where, text in found.items():
        loader.parse_pipeline(text, where)  # raises with the spot on any mistake


@pytest.mark.parametrize("source", SOURCES)
def test_gateway_settings_accept_the_rendered_environment(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway's own settings class reads each gateway container's environment without error."""
    settings_mod = pytest.importorskip("gateway.settings")
    docs = docs_of(source)
    checked = 0
    for owner, _, pod in pod_templates(docs):
        for c in containers(pod):
            if (role_of(c) or ("",))[0] != "gateway":
                continue
            env = resolved_env(c, docs, owner["metadata"].get("namespace", "default"))
            for name in list(os.environ):
                if name.startswith("MODALINE_") or name in ("DATABASE_URL", "PORT"):
                    monkeypatch.delenv(name)
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            # secrets are placeholders: any well-formed PostgreSQL URL stands for them
            monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@db:5432/modaline")
            s = settings_mod.load_settings()
            assert str(s.files_root) == "/data/files" and s.host == "0.0.0.0" and s.port == 8000
            checked += 1
    assert checked >= 2


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_helm_lint_and_schema(values_file: str) -> None:
    import helm_python as helm

    values = values_of(values_file)
    report = helm.lint(str(CHART), values, strict=True, kube_version="v1.30.0")
    serious = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"] and not serious, report
    with helm.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"workers": {"ocr": {"enabled": True}}}, "additional properties 'ocr' not allowed"),
        ({"workerz": {}}, "additional properties 'workerz' not allowed"),
        ({"workers": {"llm": {"maxConcurrency": 0}}}, "maxConcurrency"),
        ({"workers": {"llm": {"backend": "openai"}}}, "backend"),
        ({"database": {"url": "mysql://u:p@h/db"}}, "database/url"),
        ({"files": {"accessModes": ["ReadWriteSometimes"]}}, "accessModes"),
    ],
)
def test_helm_schema_rejects_bad_values(values: dict[str, Any], message: str) -> None:
    import helm_python as helm

    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmError) as caught:
        chart.validate_schema(values)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"postgresql": {"enabled": False}}, "needs database.url or database.existingSecret"),
        ({"database": {"url": "postgresql+psycopg://u:p@h:5432/d"}}, "set postgresql.enabled=false"),
        ({"workers": {c: {"enabled": False} for c in CAPABILITIES}}, "every worker is disabled"),
    ],
)
def test_helm_refuses_values_that_would_not_work(values: dict[str, Any], message: str) -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmError) as caught:
        render_chart(CHART, values)
    assert message in str(caught.value)


def test_helm_worker_loop_follows_the_workers_map() -> None:
    docs = docs_of("helm:minimal.yaml")
    assert set(_workers(docs)) == {"llm", "tts"}
    names = {d["metadata"]["name"] for d in docs}
    assert "modaline-image" not in names and "modaline-tts" in names
    cm = find(docs, "ConfigMap", "modaline-gateway", "modaline")
    assert cm is not None and "MODALINE_IMAGE_URL" not in cm["data"] and "MODALINE_TTS_URL" in cm["data"]
    assert not [
        d for d in docs if d["kind"] in ("HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy")
    ]
    (api,) = [o for o in docs if o["kind"] == "Deployment" and o["metadata"]["name"] == "modaline-api"]
    assert _env(api["spec"]["template"]["spec"]["containers"][0])["MODALINE_ROLE"] == "all"


def test_helm_generated_database_url_matches_the_bundled_password() -> None:
    secret = find(docs_of("helm:default.yaml"), "Secret", "modaline", "modaline")
    assert secret is not None
    data = secret["stringData"]
    assert len(data["POSTGRES_PASSWORD"]) >= 24
    assert (
        data["DATABASE_URL"]
        == f"postgresql+psycopg://modaline:{data['POSTGRES_PASSWORD']}@modaline-postgresql:5432/modaline"
    )


def test_helm_external_secrets_leave_no_secret_in_the_release() -> None:
    docs = docs_of("helm:external-db-ingress-servicemonitor.yaml")
    assert not [d for d in docs if d["kind"] == "Secret"]
    assert [d for d in docs if d["kind"] == "ServiceMonitor"] and [d for d in docs if d["kind"] == "Ingress"]


def test_helm_notes_tell_how_to_reach_the_ui() -> None:
    notes = render_notes(CHART, {})
    assert "port-forward svc/modaline-gateway" in notes
    notes = render_notes(CHART, values_of("external-db-ingress-servicemonitor.yaml"))
    assert "https://modaline.example.com/" in notes


def test_helm_long_release_name_keeps_valid_names_and_wiring() -> None:
    """A 53-character release name (Helm's maximum): names are cut, and the URLs still match the Services."""
    docs = render_chart(
        CHART, {}, name="a-very-long-release-name-for-the-modaline-chart-01234", namespace="x"
    )
    for check in ("names", "services", "worker_urls", "network_policies", "env_refs", "autoscalers"):
        assert manifest_checks()[check](docs) == [], check


def _shape(c: Doc) -> dict[str, Any]:
    """What a container must agree on between kustomize and Helm (names and images aside)."""
    return {
        "argv": (c.get("command") or []) + (c.get("args") or []),
        "env": sorted(e["name"] for e in c.get("env") or []),
        "ports": c.get("ports"),
        "probes": {k: c.get(k) for k in ("readinessProbe", "livenessProbe")},
        "securityContext": c.get("securityContext"),
        "mounts": sorted(m["mountPath"] for m in c.get("volumeMounts") or []),
        "resources": c.get("resources"),
    }


def test_helm_and_kustomize_run_the_workers_alike() -> None:
    kustomized, helmed = _workers(docs_of("kustomize:k8s")), _workers(docs_of("helm:default.yaml"))
    for cap in CAPABILITIES:
        assert _shape(kustomized[cap][1]) == _shape(helmed[cap][1]), cap
        pod_k = kustomized[cap][0]["spec"]["template"]["spec"]
        pod_h = helmed[cap][0]["spec"]["template"]["spec"]
        assert pod_k["securityContext"] == pod_h["securityContext"], cap
