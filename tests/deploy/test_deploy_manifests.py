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
    ingress_routes,
    kustomize,
    manifest_checks,
    pod_templates,
    render_chart,
    render_notes,
    resolved_env,
    role_of,
    schema_problems,
    selector_matches,
)

CHART = REPO / "helm" / "modaline"
VALUES_DIR = Path(__file__).parent / "values"
VALUES_FILES = sorted(p.name for p in VALUES_DIR.glob("*.yaml"))
KUSTOMIZATIONS = [
    "k8s",
    "k8s/overlays/local",
    "k8s/overlays/external-db",
    "k8s/overlays/object-storage",
    "k8s/overlays/monitoring",
]
#: The least a rendering of the chart needs: auth is on by default and needs a signing key (a test value).
AUTH: dict[str, Any] = {"auth": {"signingKey": "test-only-signing-key-not-a-secret"}}
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
    secrets = [
        v.get("secrets", {}).get("existingSecret"),
        v.get("database", {}).get("existingSecret"),
        v.get("auth", {}).get("existingSecret"),
        v.get("files", {}).get("objectStorage", {}).get("existingSecret"),
    ]
    claims = [v.get("files", {}).get("existingClaim")]
    return [s for s in secrets if s], [c for c in claims if c]


def test_every_values_file_and_kustomization_is_covered() -> None:
    assert {
        "default.yaml",
        "minimal.yaml",
        "local-offline.yaml",
        "external-db-ingress-servicemonitor.yaml",
        "object-storage.yaml",
        "observability.yaml",
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


@pytest.mark.parametrize("source", ["kustomize:k8s/overlays/object-storage", "helm:object-storage.yaml"])
def test_object_storage_needs_no_volume_and_reaches_every_file_process(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No PersistentVolumeClaim and no volume for files; the gateway (API and runner) and the five workers
    get the same MODALINE_FILES_URL, endpoint and region, the keys only from a Secret; the workers' own
    settings accept that environment."""
    docs = docs_of(source)
    assert [d for d in docs if d["kind"] == "PersistentVolumeClaim"] == []
    seen: dict[str, dict[str, str]] = {}
    for owner, _, pod in pod_templates(docs):
        assert not [
            v for v in pod.get("volumes") or [] if "persistentVolumeClaim" in v and v["name"] == "files"
        ]
        for c in containers(pod, init=False):
            role = role_of(c) or ("", "")
            if role[0] not in ("gateway", "worker") or role[1] == "migrate":
                continue
            env = resolved_env(c, docs, owner["metadata"]["namespace"])
            seen[f"{owner['metadata']['name']}/{c['name']}"] = {
                k: env.get(k, "") for k in ("MODALINE_FILES_URL", "AWS_ENDPOINT_URL", "AWS_REGION")
            }
            for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                item = next((e for e in c.get("env") or [] if e["name"] == key), None)
                assert item is not None and "secretKeyRef" in item["valueFrom"], (
                    owner["metadata"]["name"],
                    key,
                )
            if role[0] == "worker":
                from workers.kit.settings import load_settings

                for name in list(os.environ):
                    if name.startswith(("MODALINE_", "AWS_")):
                        monkeypatch.delenv(name)
                for name, value in env.items():
                    monkeypatch.setenv(name, value)
                assert load_settings(role[1]).files_url == env["MODALINE_FILES_URL"]  # type: ignore[arg-type]
    assert len(seen) == 7, sorted(seen)  # api, runner and five workers
    assert len({tuple(v.items()) for v in seen.values()}) == 1, seen
    assert next(iter(seen.values()))["MODALINE_FILES_URL"].startswith("s3://")


def test_the_helm_object_storage_values_reach_the_gateway_settings() -> None:
    docs = docs_of("helm:object-storage.yaml")
    config = find(docs, "ConfigMap", "modaline-gateway", "modaline")
    assert config is not None
    assert config["data"]["MODALINE_FILES_DOWNLOAD"] == "redirect"
    assert config["data"]["MODALINE_FILES_PRESIGN_SECONDS"] == "120"
    default = find(docs_of("helm:default.yaml"), "ConfigMap", "modaline-gateway", "modaline")
    assert default is not None and "MODALINE_FILES_DOWNLOAD" not in default["data"]


def test_helm_stores_static_object_storage_keys_in_its_own_secret() -> None:
    docs = render_chart(
        CHART,
        {
            **AUTH,
            "files": {
                "objectStorage": {
                    "url": "s3://bucket/x",
                    "accessKeyId": "test-only-access-key",
                    "secretAccessKey": "test-only-secret-key",
                }
            },
        },
    )
    secret = find(docs, "Secret", "modaline", "modaline")
    assert secret is not None
    assert secret["stringData"]["AWS_ACCESS_KEY_ID"] == "test-only-access-key"
    problems = manifest_checks()["env_refs"](docs) + manifest_checks()["files_storage"](docs)
    assert problems == []


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
            # secrets are placeholders: any well-formed PostgreSQL URL and any signing key stand for them
            monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:p@db:5432/modaline")
            monkeypatch.setenv("MODALINE_SIGNING_KEY", "test-only-signing-key-not-a-secret")
            s = settings_mod.load_settings()
            assert str(s.files_root) == "/data/files" and s.host == "0.0.0.0" and s.port == 8000
            if hasattr(s, "auth_mode"):  # the settings of the gateway with API keys (docs/auth.md)
                assert s.auth_mode == "keys"
            checked += 1
    assert checked >= 2


# ---------------------------------------------------------------- API keys, limits, CORS, /metrics


def _gateway_containers(docs: list[Doc]) -> list[tuple[Doc, Doc]]:
    return [
        (owner, c)
        for owner, _, pod in pod_templates(docs)
        for c in containers(pod)
        if (role_of(c) or ("",))[0] == "gateway"
    ]


def _env_item(c: Doc, name: str) -> Doc | None:
    return next((e for e in c.get("env") or [] if e["name"] == name), None)


def _pod_annotations(docs: list[Doc], deployment: str) -> dict[str, str]:
    owner = find(docs, "Deployment", deployment, "modaline")
    assert owner is not None, deployment
    return owner["spec"]["template"]["metadata"].get("annotations") or {}


def ident_of(doc: Doc) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def _secret_of(c: Doc, name: str) -> tuple[str, str] | None:
    ref = ((_env_item(c, name) or {}).get("valueFrom") or {}).get("secretKeyRef")
    return (ref["name"], ref["key"]) if ref else None


@pytest.mark.parametrize("source", ["kustomize:k8s", "helm:default.yaml", "helm:minimal.yaml"])
def test_the_signing_key_comes_from_a_secret_of_the_rendering(source: str) -> None:
    """Every gateway container (API, runner, migrations) reads the signing key from one Secret that the
    rendering holds (test_cross_references checks the same for every rendering, external Secrets aside)."""
    docs = docs_of(source)
    gateways = _gateway_containers(docs)
    assert len(gateways) >= 2
    refs = {_secret_of(c, "MODALINE_SIGNING_KEY") for _, c in gateways}
    assert len(refs) == 1 and None not in refs, refs
    ((name, key),) = refs
    secret = find(docs, "Secret", name, "modaline")
    assert secret is not None and key in secret["stringData"]


def test_kustomize_base_commits_no_signing_key() -> None:
    """The base Secret leaves the signing key empty (the gateway refuses to start without one, so nothing
    runs on a key copied from the repository) and carries no bootstrap key at all."""
    secret = find(docs_of("kustomize:k8s"), "Secret", "modaline-secrets", "modaline")
    assert secret is not None
    assert secret["stringData"]["MODALINE_SIGNING_KEY"] == ""
    assert "MODALINE_BOOTSTRAP_ADMIN_KEY" not in secret["stringData"]
    (api,) = [
        c
        for o, c in _gateway_containers(docs_of("kustomize:k8s"))
        if o["metadata"]["name"] == "gateway-api" and c["name"] == "gateway"
    ]
    assert (_env_item(api, "MODALINE_BOOTSTRAP_ADMIN_KEY") or {})["valueFrom"]["secretKeyRef"][
        "optional"
    ] is True


def test_no_api_key_is_committed_in_the_deploy_files() -> None:
    key = re.compile(r"mdl_[A-Za-z0-9_-]{43}")
    files = [REPO / "docker-compose.yml", REPO / ".env.example", REPO / "docs" / "deploy.md"]
    files += [p for p in (REPO / "k8s").rglob("*") if p.is_file()]
    files += [p for p in (REPO / "helm").rglob("*") if p.is_file()]
    found = [str(p.relative_to(REPO)) for p in files if key.search(p.read_text())]
    assert found == [], f"an API key (mdl_...) is committed in {found}"


@pytest.mark.parametrize("values", [{}, {"auth": {"signingKey": ""}}, {"auth": {"enabled": True}}])
def test_helm_refuses_auth_without_a_signing_key(values: dict[str, Any]) -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmError) as caught:
        render_chart(CHART, values)
    assert "auth.enabled=true needs a signing key" in str(caught.value)
    assert "auth.existingSecret" in str(caught.value)


def test_helm_auth_from_an_existing_secret_puts_no_key_in_the_release() -> None:
    docs = render_chart(CHART, {"auth": {"existingSecret": "my-auth"}})
    for _, c in _gateway_containers(docs):
        assert _secret_of(c, "MODALINE_SIGNING_KEY") == ("my-auth", "MODALINE_SIGNING_KEY")
    secret = find(docs, "Secret", "modaline", "modaline")
    assert secret is not None  # the bundled database's password is still the chart's
    assert not {"MODALINE_SIGNING_KEY", "MODALINE_BOOTSTRAP_ADMIN_KEY"} & set(secret["stringData"])


def test_helm_bootstrap_key_goes_to_the_secret_and_the_api_only() -> None:
    bootstrap = "mdl_" + "0" * 43  # the shape of a key, made here: no key is committed
    docs = render_chart(
        CHART, {"auth": {"signingKey": "test-only-a,test-only-b", "bootstrapAdminKey": bootstrap}}
    )
    secret = find(docs, "Secret", "modaline", "modaline")
    assert secret is not None
    assert secret["stringData"]["MODALINE_BOOTSTRAP_ADMIN_KEY"] == bootstrap
    assert secret["stringData"]["MODALINE_SIGNING_KEY"] == "test-only-a,test-only-b"
    by_container = {(o["metadata"]["name"], c["name"]): c for o, c in _gateway_containers(docs)}
    assert _secret_of(by_container["modaline-api", "gateway"], "MODALINE_BOOTSTRAP_ADMIN_KEY") == (
        "modaline",
        "MODALINE_BOOTSTRAP_ADMIN_KEY",
    )
    assert _env_item(by_container["modaline-runner", "runner"], "MODALINE_BOOTSTRAP_ADMIN_KEY") is None
    assert _env_item(by_container["modaline-api", "migrate"], "MODALINE_BOOTSTRAP_ADMIN_KEY") is None
    # a new key (rotation) restarts the gateway pods: it reaches them as environment
    again = render_chart(CHART, {"auth": {"signingKey": "test-only-b", "bootstrapAdminKey": bootstrap}})
    assert (
        _pod_annotations(docs, "modaline-api")["checksum/auth"]
        != (_pod_annotations(again, "modaline-api")["checksum/auth"])
    )
    assert "bootstrap operator key you set" in render_notes(
        CHART, {"auth": {"signingKey": "x", "bootstrapAdminKey": bootstrap}}
    )


def test_helm_auth_can_be_turned_off() -> None:
    docs = render_chart(CHART, {"auth": {"enabled": False}})
    cm = find(docs, "ConfigMap", "modaline-gateway", "modaline")
    assert cm is not None and cm["data"]["MODALINE_AUTH"] == "off"
    for _, c in _gateway_containers(docs):
        assert _env_item(c, "MODALINE_SIGNING_KEY") is None
    assert "API keys are OFF" in render_notes(CHART, {"auth": {"enabled": False}})
    assert "keys create --tenant acme" in render_notes(CHART, AUTH)


def test_helm_limits_and_cors_reach_the_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset limits stay out of the environment (the gateway's built-in default applies), 0 is kept (unlimited),
    and the gateway's own settings read what the chart renders."""
    cm = find(docs_of("helm:default.yaml"), "ConfigMap", "modaline-gateway", "modaline")
    assert cm is not None
    assert not [k for k in cm["data"] if k.startswith("MODALINE_LIMIT_") or k == "MODALINE_CORS_ORIGINS"]
    cm = find(
        docs_of("helm:external-db-ingress-servicemonitor.yaml"), "ConfigMap", "modaline-gateway", "modaline"
    )
    assert cm is not None
    expected = {
        "MODALINE_LIMIT_REQUESTS_PER_MINUTE": "1200",
        "MODALINE_LIMIT_SUBMITS_PER_MINUTE": "120",
        "MODALINE_LIMIT_JOBS_PER_DAY": "0",
        "MODALINE_LIMIT_RUNNING_JOBS": "50",
        "MODALINE_CORS_ORIGINS": "https://app.example.com,https://admin.example.com",
    }
    assert {k: cm["data"].get(k) for k in expected} == expected
    settings_mod = pytest.importorskip("gateway.settings")
    for name, value in {**expected, "MODALINE_SIGNING_KEY": "test-only", "MODALINE_AUTH": "keys"}.items():
        monkeypatch.setenv(name, value)
    s = settings_mod.load_settings()
    if hasattr(s, "limit_jobs_per_day"):  # the settings of the gateway with API keys (docs/auth.md)
        assert (s.limit_requests_per_minute, s.limit_submits_per_minute, s.limit_jobs_per_day) == (
            1200,
            120,
            0,
        )
        assert s.limit_running_jobs == 50
        assert s.allowed_origins == ["https://app.example.com", "https://admin.example.com"]


RETENTION_ENV = (
    "MODALINE_RETENTION_DAYS",
    "MODALINE_UPLOAD_TTL_HOURS",
    "MODALINE_JANITOR_INTERVAL_SECONDS",
    "MODALINE_MIN_FREE_BYTES",
)


def _retention_by_role(source: str) -> dict[str, dict[str, Any]]:
    """MODALINE_ROLE -> the data-lifecycle variables of that gateway container (every source of env)."""
    docs = docs_of(source)
    found = {}
    for owner, c in _gateway_containers(docs):
        if role_of(c) != ("gateway", "serve"):
            continue
        env = resolved_env(c, docs, owner["metadata"].get("namespace", "default"))
        found[env["MODALINE_ROLE"]] = {k: env[k] for k in RETENTION_ENV if k in env}
    return found


def test_helm_retention_reaches_the_runner_and_the_free_space_floor_every_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unset retention values stay out (the built-in defaults apply); the janitor's settings go where a runner
    runs (the runner Deployment, or the one gateway with role `all`), the free-space floor to every gateway."""
    assert _retention_by_role("helm:default.yaml") == {"api": {}, "runner": {}}
    assert _retention_by_role("kustomize:k8s") == {"api": {}, "runner": {}}
    split = _retention_by_role("helm:external-db-ingress-servicemonitor.yaml")
    assert split == {
        "api": {"MODALINE_MIN_FREE_BYTES": "10737418240"},
        "runner": {
            "MODALINE_RETENTION_DAYS": "30",
            "MODALINE_UPLOAD_TTL_HOURS": "6",
            "MODALINE_JANITOR_INTERVAL_SECONDS": "300",
            "MODALINE_MIN_FREE_BYTES": "10737418240",
        },
    }
    one_pod = _retention_by_role("helm:minimal.yaml")
    assert one_pod == {"all": {"MODALINE_RETENTION_DAYS": "10.5", "MODALINE_MIN_FREE_BYTES": "0"}}
    settings_mod = pytest.importorskip("gateway.settings")
    for name in RETENTION_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        **split["runner"],
        "MODALINE_SIGNING_KEY": "test-only",
        "MODALINE_AUTH": "keys",
    }.items():
        monkeypatch.setenv(name, value)
    s = settings_mod.load_settings()
    assert (s.retention_days, s.upload_ttl_hours, s.janitor_interval_seconds) == (30, 6, 300)
    assert s.min_free_bytes == 10 * 2**30


@pytest.mark.parametrize(
    "retention",
    [
        {"days": 0},
        {"uploadTtlHours": -1},
        {"janitorIntervalSeconds": 90000},
        {"minFreeBytes": 1.5},
        {"weeks": 2},
    ],
)
def test_helm_refuses_a_retention_the_gateway_would_refuse(retention: dict[str, Any]) -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmError) as caught:
        render_chart(CHART, {**AUTH, "retention": retention})
    assert "retention" in str(caught.value)


def test_kustomize_limits_and_cors_merge_in_from_an_overlay(tmp_path: Path) -> None:
    """The overlay docs/deploy.md shows ("Limits and CORS") sets the gateway's limits and CORS origins."""
    overlay = tmp_path / "mine"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(REPO / "k8s" / "base", overlay)],
                "configMapGenerator": [
                    {
                        "name": "modaline-gateway",
                        "behavior": "merge",
                        "literals": [
                            "MODALINE_LIMIT_SUBMITS_PER_MINUTE=120",
                            "MODALINE_LIMIT_JOBS_PER_DAY=0",
                            "MODALINE_CORS_ORIGINS=https://app.example.com",
                        ],
                    }
                ],
            }
        )
    )
    docs = kustomize(overlay)
    for owner, c in _gateway_containers(docs):
        env = resolved_env(c, docs, "modaline")
        assert env["MODALINE_LIMIT_SUBMITS_PER_MINUTE"] == "120" and env["MODALINE_LIMIT_JOBS_PER_DAY"] == "0"
        assert env["MODALINE_CORS_ORIGINS"] == "https://app.example.com"
        assert env["MODALINE_AUTH"] == "keys", ident_of(owner)
    assert manifest_checks()["env_refs"](docs) == []


@pytest.mark.parametrize("source", ["kustomize:k8s", "helm:external-db-ingress-servicemonitor.yaml"])
def test_the_ingress_keeps_metrics_inside_the_cluster(source: str) -> None:
    (ingress,) = [d for d in docs_of(source) if d["kind"] == "Ingress"]
    service = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
    assert ingress_routes(ingress, "/metrics") == [] and ingress_routes(ingress, "/metrics/x") == []
    for path in ("/", "/v1/jobs/123/events", "/assets/index-abc.js", "/docs", "/openapi.json", "/readyz"):
        assert ingress_routes(ingress, path) == [service], path


@pytest.mark.parametrize(
    "path",
    [
        {"path": "/", "pathType": "Prefix"},
        {"path": "/metrics", "pathType": "Exact"},
        {"path": "/metrics", "pathType": "Prefix"},
        {"path": "/", "pathType": "ImplementationSpecific"},
        {"path": "/met", "pathType": "ImplementationSpecific"},
    ],
)
@pytest.mark.parametrize("where", ["ingress.paths", "a host's paths"])
def test_helm_refuses_an_ingress_path_that_routes_metrics(path: dict[str, str], where: str) -> None:
    import helm_python as helm

    ingress: dict[str, Any] = {"enabled": True}
    if where == "ingress.paths":
        ingress["paths"] = [{"path": "/v1", "pathType": "Prefix"}, path]
    else:
        ingress["hosts"] = [{"host": "a.example.com"}, {"host": "b.example.com", "paths": [path]}]
    with pytest.raises(helm.HelmError) as caught:
        render_chart(CHART, {**AUTH, "ingress": ingress})
    assert f"ingress path {path['path']} ({path['pathType']})" in str(caught.value)
    assert "would route /metrics" in str(caught.value)


def test_helm_ingress_paths_per_host() -> None:
    docs = render_chart(
        CHART,
        {
            **AUTH,
            "ingress": {
                "enabled": True,
                "hosts": [
                    {"host": "a.example.com"},
                    {"host": "api.example.com", "paths": [{"path": "/v1", "pathType": "Prefix"}]},
                ],
            },
        },
    )
    (ingress,) = [d for d in docs if d["kind"] == "Ingress"]
    paths = {r["host"]: [p["path"] for p in r["http"]["paths"]] for r in ingress["spec"]["rules"]}
    assert paths["api.example.com"] == ["/v1"] and "/assets" in paths["a.example.com"]


def _reachable_from_namespace(docs: list[Doc], ns_labels: dict[str, str], pod_labels: dict[str, str]) -> bool:
    """Some NetworkPolicy selecting the pod lets pods of a namespace with these labels reach its port `http`."""
    for p in (d for d in docs if d["kind"] == "NetworkPolicy"):
        if not selector_matches(p["spec"].get("podSelector"), pod_labels):
            continue
        for rule in p["spec"].get("ingress") or []:
            ports = {x.get("port") for x in rule.get("ports") or []}
            peers = [x for x in rule.get("from") or [] if "namespaceSelector" in x and "podSelector" not in x]
            if "http" in ports and any(selector_matches(x["namespaceSelector"], ns_labels) for x in peers):
                return True
    return False


@pytest.mark.parametrize(
    "source",
    ["kustomize:k8s", "kustomize:k8s/overlays/local", "helm:external-db-ingress-servicemonitor.yaml"],
)
def test_prometheus_reaches_every_metrics_port_and_the_ingress_controller_only_the_api(source: str) -> None:
    docs = docs_of(source)
    monitoring = {"kubernetes.io/metadata.name": "monitoring"}
    ingress_nginx = {"kubernetes.io/metadata.name": "ingress-nginx"}
    checked = 0
    for owner, labels, pod in pod_templates(docs):
        role = next((role_of(c) for c in containers(pod, init=False) if role_of(c)), None)
        if role is None:
            continue
        assert _reachable_from_namespace(docs, monitoring, labels), (
            f"{ident_of(owner)}: Prometheus is kept out"
        )
        is_api = owner["metadata"]["name"] in ("gateway-api", "modaline-api")
        assert _reachable_from_namespace(docs, ingress_nginx, labels) == is_api, ident_of(owner)
        checked += 1
    assert checked >= 7
    # the annotations of pod discovery name the container's own port (kustomize; Helm has the ServiceMonitor)
    if source.startswith("kustomize"):
        for owner, _, pod in pod_templates(docs):
            annotations = owner["spec"]["template"]["metadata"].get("annotations") or {}
            if annotations.get("prometheus.io/scrape") == "true":
                ports = {p["containerPort"] for c in pod["containers"] for p in c.get("ports") or []}
                assert int(annotations["prometheus.io/port"]) in ports, ident_of(owner)
                assert annotations["prometheus.io/path"] == "/metrics"


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
        ({"auth": {"enabled": "yes"}}, "auth/enabled"),
        ({"auth": {"signingKey": "one,two,three"}}, "auth/signingKey"),
        ({"auth": {"signingKey": "a key with spaces"}}, "auth/signingKey"),
        ({"auth": {"signingKey": "test-only\n"}}, "auth/signingKey"),
        ({"auth": {"bootstrapAdminKey": "admin"}}, "auth/bootstrapAdminKey"),
        ({"auth": {"signingkey": "x"}}, "additional properties 'signingkey' not allowed"),
        ({"limits": {"requestsPerMinute": -1}}, "limits/requestsPerMinute"),
        ({"limits": {"jobsPerDay": "many"}}, "limits/jobsPerDay"),
        ({"limits": {"concurrentJobs": 3}}, "additional properties 'concurrentJobs' not allowed"),
        ({"cors": {"origins": ["app.example.com"]}}, "cors/origins"),
        ({"cors": {"origins": ["https://app.example.com/"]}}, "cors/origins"),
        ({"cors": {"origins": "https://app.example.com"}}, "cors/origins"),
        ({"ingress": {"hosts": [{"paths": []}]}}, "ingress/hosts"),
        ({"files": {"objectStorage": {"url": "/data/files"}}}, "files/objectStorage/url"),
        ({"files": {"objectStorage": {"url": "s3://Bad_Bucket/x"}}}, "files/objectStorage/url"),
        ({"files": {"objectStorage": {"endpoint": "minio:9000"}}}, "files/objectStorage/endpoint"),
        ({"files": {"objectStorage": {"download": "proxy"}}}, "files/objectStorage/download"),
        ({"files": {"objectStorage": {"bucket": "x"}}}, "additional properties 'bucket' not allowed"),
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
        (
            {"files": {"existingClaim": "shared", "objectStorage": {"url": "s3://bucket"}}},
            "files.existingClaim is a shared volume, files.objectStorage.url a bucket: choose one",
        ),
        ({"files": {"objectStorage": {"download": "redirect"}}}, "a shared volume has no presigned URLs"),
        (
            {"files": {"objectStorage": {"url": "s3://bucket", "accessKeyId": "AKIAEXAMPLE"}}},
            "accessKeyId and secretAccessKey go together",
        ),
    ],
)
def test_helm_refuses_values_that_would_not_work(values: dict[str, Any], message: str) -> None:
    import helm_python as helm

    with pytest.raises(helm.HelmError) as caught:
        render_chart(CHART, {**AUTH, **values})
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
    notes = render_notes(CHART, AUTH)
    assert "port-forward svc/modaline-gateway" in notes
    notes = render_notes(CHART, values_of("external-db-ingress-servicemonitor.yaml"))
    assert "https://modaline.example.com/" in notes


def test_helm_long_release_name_keeps_valid_names_and_wiring() -> None:
    """A 53-character release name (Helm's maximum): names are cut, and the URLs still match the Services."""
    docs = render_chart(
        CHART, AUTH, name="a-very-long-release-name-for-the-modaline-chart-01234", namespace="x"
    )
    for check in (
        "names",
        "services",
        "worker_urls",
        "network_policies",
        "env_refs",
        "autoscalers",
        "gateway_auth",
    ):
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


def test_helm_service_monitor_sends_the_metrics_key_from_a_secret() -> None:
    values = values_of("external-db-ingress-servicemonitor.yaml")
    without = obj_of(render_chart(CHART, values), "ServiceMonitor")
    assert "authorization" not in without["spec"]["endpoints"][0]
    values["serviceMonitor"] = {
        **values["serviceMonitor"],
        "metricsKeySecret": {"name": "scraper", "key": "token"},
    }
    endpoint = obj_of(render_chart(CHART, values), "ServiceMonitor")["spec"]["endpoints"][0]
    assert endpoint["authorization"] == {"type": "Bearer", "credentials": {"name": "scraper", "key": "token"}}


def obj_of(docs: list[Doc], kind: str) -> Doc:
    [found] = [d for d in docs if d["kind"] == kind]
    return found
