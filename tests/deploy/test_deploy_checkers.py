"""Each checker of deploy_checks.py catches the mistake it exists for.

Every test takes a real rendering (the kustomize base, or the Helm chart), makes one deliberate mistake in a
copy, and asserts that the checker reports it: a checker that cannot fail would pass these by accident
only if it also passed the clean rendering, which test_deploy_manifests.py asserts it does.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from deploy_checks import (
    REPO,
    Doc,
    check_autoscalers,
    check_commands,
    check_disruption_budgets,
    check_env_refs,
    check_files_storage,
    check_gateway_auth,
    check_ingress_paths,
    check_ingresses,
    check_names,
    check_network_policies,
    check_probes,
    check_secret_env,
    check_security,
    check_service_monitors,
    check_services,
    check_unique_names,
    check_volume_refs,
    check_worker_urls,
    check_workload_selectors,
    compose_problems,
    dockerfile_problems,
    kustomize,
    module_problem,
    render_chart,
    schema_problems,
)


@functools.cache
def _base() -> tuple[Doc, ...]:
    return tuple(kustomize(REPO / "k8s"))


@functools.cache
def _helm_full() -> tuple[Doc, ...]:
    values = yaml.safe_load(
        (Path(__file__).parent / "values/external-db-ingress-servicemonitor.yaml").read_text()
    )
    return tuple(render_chart(REPO / "helm" / "modaline", values))


def base() -> list[Doc]:
    return copy.deepcopy(list(_base()))


def obj(docs: list[Doc], kind: str, name: str) -> Doc:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def container(docs: list[Doc], kind: str, name: str, index: int = 0) -> Doc:
    return obj(docs, kind, name)["spec"]["template"]["spec"]["containers"][index]


def env_item(c: Doc, name: str) -> Doc:
    return next(e for e in c["env"] if e["name"] == name)


def assert_reports(check: Callable[[list[Doc]], list[str]], docs: list[Doc], *fragments: str) -> None:
    problems = check(docs)
    text = "\n".join(problems)
    for fragment in fragments:
        assert fragment in text, (
            f"{check.__name__} did not report {fragment!r}; it said:\n{text or '(nothing)'}"
        )


@pytest.mark.parametrize(
    "check",
    [
        check_workload_selectors,
        check_services,
        check_ingresses,
        check_autoscalers,
        check_disruption_budgets,
        check_volume_refs,
        check_env_refs,
        check_worker_urls,
        check_probes,
        check_network_policies,
        check_security,
        check_commands,
        check_unique_names,
        check_names,
        check_ingress_paths,
        check_secret_env,
        check_gateway_auth,
        check_files_storage,
    ],
)
def test_the_clean_base_passes(check: Callable[[list[Doc]], list[str]]) -> None:
    assert check(base()) == []


@functools.cache
def _object_storage() -> tuple[Doc, ...]:
    return tuple(kustomize(REPO / "k8s" / "overlays" / "object-storage"))


def test_files_in_two_places_or_nowhere_are_reported() -> None:
    docs = base()  # the shared volume: a worker that lost its mount keeps its files nowhere shared
    worker = container(docs, "Deployment", "tts")
    worker["volumeMounts"] = [m for m in worker["volumeMounts"] if m["mountPath"] != "/data/files"]
    assert_reports(
        check_files_storage,
        docs,
        "Deployment/tts container worker: no MODALINE_FILES_URL and no claim mounted at /data/files",
        "keep files in different places",
    )
    docs = copy.deepcopy(list(_object_storage()))
    assert check_files_storage(docs) == []
    worker = container(docs, "Deployment", "stt")  # one worker left on the (deleted) volume
    worker["env"] = [e for e in worker["env"] if e["name"] != "MODALINE_FILES_URL"]
    assert_reports(check_files_storage, docs, "Deployment/stt container worker: no MODALINE_FILES_URL")
    docs = copy.deepcopy(list(_object_storage()))
    obj(docs, "ConfigMap", "modaline-files")["data"]["MODALINE_FILES_URL"] = "/data/files"
    docs.append(obj(base(), "PersistentVolumeClaim", "modaline-files"))
    assert_reports(
        check_files_storage,
        docs,
        "MODALINE_FILES_URL=/data/files is not s3://bucket[/prefix]",
    )
    docs = copy.deepcopy(list(_object_storage()))
    docs.append(obj(base(), "PersistentVolumeClaim", "modaline-files"))
    container(docs, "Deployment", "llm")["volumeMounts"].append({"name": "files", "mountPath": "/data/files"})
    assert_reports(
        check_files_storage,
        docs,
        "PersistentVolumeClaim/modaline-files: a files volume nobody needs",
        "Deployment/llm container worker: files are in s3://",
    )


def test_schema_strict_catches_an_unknown_field_and_a_wrong_type() -> None:
    docs = base()
    obj(docs, "Deployment", "gateway-api")["spec"]["replica"] = 2
    container(docs, "Deployment", "llm")["ports"][0]["containerPort"] = "8080"
    problems = "\n".join(schema_problems(docs, versions=("1.30.0",)))
    assert "Deployment/gateway-api" in problems and "'replica' was unexpected" in problems
    assert "Deployment/llm" in problems and "containerPort" in problems


def test_selector_that_misses_its_own_pods() -> None:
    docs = base()
    obj(docs, "Deployment", "gateway-api")["spec"]["template"]["metadata"]["labels"][
        "app.kubernetes.io/component"
    ] = "apii"
    assert_reports(check_workload_selectors, docs, "Deployment/gateway-api: selector")
    docs = base()
    obj(docs, "StatefulSet", "postgresql")["spec"]["serviceName"] = "postgres"
    assert_reports(check_workload_selectors, docs, "serviceName postgres is not a Service")


def test_service_with_wrong_selector_or_port() -> None:
    docs = base()
    obj(docs, "Service", "gateway")["spec"]["ports"][0]["targetPort"] = "htp"
    obj(docs, "Service", "tts")["spec"]["ports"][0]["targetPort"] = 8081
    obj(docs, "Service", "stt")["spec"]["selector"]["app.kubernetes.io/component"] = "sst"
    assert_reports(
        check_services,
        docs,
        "Service/gateway: port http targets 'htp'",
        "Service/tts: port http targets 8081",
        "Service/stt: selector",
    )


def test_ingress_backend_that_does_not_exist() -> None:
    docs = base()
    backend = obj(docs, "Ingress", "modaline")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    backend["port"] = {"name": "https"}
    assert_reports(check_ingresses, docs, "Service gateway has no port")
    backend["name"] = "gatewy"
    assert_reports(check_ingresses, docs, "backend Service gatewy does not exist")


def test_ingress_that_routes_metrics_or_misses_the_api() -> None:
    docs = base()
    paths = obj(docs, "Ingress", "modaline")["spec"]["rules"][0]["http"]["paths"]
    paths[0]["pathType"] = "Prefix"  # `/` as a prefix: everything, /metrics included
    assert_reports(check_ingress_paths, docs, "Ingress/modaline: routes /metrics (it needs no key")
    docs = base()
    ing = obj(docs, "Ingress", "modaline")
    ing["spec"]["defaultBackend"] = copy.deepcopy(ing["spec"]["rules"][0]["http"]["paths"][0]["backend"])
    assert_reports(check_ingress_paths, docs, "routes /metrics")
    docs = base()
    paths = obj(docs, "Ingress", "modaline")["spec"]["rules"][0]["http"]["paths"]
    paths.append({**copy.deepcopy(paths[0]), "path": "/metrics", "pathType": "Exact"})
    paths[:] = [p for p in paths if p["path"] != "/v1"]
    assert_reports(check_ingress_paths, docs, "routes /metrics", "does not route /v1/jobs to the gateway")
    docs = base()
    paths = obj(docs, "Ingress", "modaline")["spec"]["rules"][0]["http"]["paths"]
    paths.append({**copy.deepcopy(paths[0]), "path": "/m", "pathType": "ImplementationSpecific"})
    assert_reports(check_ingress_paths, docs, "routes /metrics")


def test_secret_that_is_inlined() -> None:
    docs = base()
    api = container(docs, "Deployment", "gateway-api")
    item = env_item(api, "MODALINE_SIGNING_KEY")
    del item["valueFrom"]
    item["value"] = "inline"
    obj(docs, "ConfigMap", "modaline-gateway")["data"]["HF_TOKEN"] = "hf_x"
    assert_reports(
        check_secret_env,
        docs,
        "Deployment/gateway-api container gateway: env MODALINE_SIGNING_KEY is not from a Secret",
        "ConfigMap/modaline-gateway: holds HF_TOKEN",
    )


def test_gateway_without_auth_or_with_keys_elsewhere() -> None:
    docs = base()
    obj(docs, "ConfigMap", "modaline-gateway")["data"]["MODALINE_AUTH"] = "off"
    runner = container(docs, "Deployment", "gateway-runner")
    runner["env"] = [e for e in runner["env"] if e["name"] != "MODALINE_SIGNING_KEY"]
    api = container(docs, "Deployment", "gateway-api")
    env_item(api, "MODALINE_SIGNING_KEY")["valueFrom"]["secretKeyRef"]["optional"] = True
    api["env"] = [e for e in api["env"] if e["name"] != "MODALINE_BOOTSTRAP_ADMIN_KEY"]
    container(docs, "Deployment", "llm")["env"].append(copy.deepcopy(env_item(runner, "DATABASE_URL")))
    container(docs, "Deployment", "llm")["env"][-1]["name"] = "MODALINE_SIGNING_KEY"
    assert_reports(
        check_gateway_auth,
        docs,
        "Deployment/gateway-api container migrate: MODALINE_AUTH is 'off', not 'keys'",
        "Deployment/gateway-runner container runner: MODALINE_SIGNING_KEY does not come from a Secret",
        "Deployment/gateway-api container gateway: MODALINE_SIGNING_KEY is optional",
        "Deployment/gateway-api container gateway: MODALINE_BOOTSTRAP_ADMIN_KEY does not come from a Secret",
        "Deployment/llm container worker: a worker has no use for MODALINE_SIGNING_KEY",
    )
    del obj(docs, "ConfigMap", "modaline-gateway")["data"]["MODALINE_AUTH"]
    assert_reports(check_gateway_auth, docs, "MODALINE_AUTH is None, not 'keys'")
    assert_reports(check_gateway_auth, [d for d in docs if d["kind"] != "Deployment"], "no gateway container")


def test_autoscaler_target_and_its_needs() -> None:
    docs = base()
    obj(docs, "HorizontalPodAutoscaler", "llm")["spec"]["scaleTargetRef"]["name"] = "llmm"
    obj(docs, "HorizontalPodAutoscaler", "tts")["spec"]["minReplicas"] = 9
    obj(docs, "Deployment", "stt")["spec"]["replicas"] = 2
    del container(docs, "Deployment", "image")["resources"]["requests"]["cpu"]
    assert_reports(
        check_autoscalers,
        docs,
        "HorizontalPodAutoscaler/llm: scale target apps/v1 Deployment/llmm does not exist",
        "minReplicas 9 > maxReplicas 5",
        "Deployment/stt sets spec.replicas",
        "of Deployment/image has no CPU request",
    )


def test_disruption_budget_that_selects_nothing_or_blocks_drains() -> None:
    docs = base()
    obj(docs, "PodDisruptionBudget", "cyclegan")["spec"]["selector"]["matchLabels"][
        "app.kubernetes.io/component"
    ] = "gan"
    obj(docs, "PodDisruptionBudget", "gateway-api")["spec"]["minAvailable"] = 2
    assert_reports(
        check_disruption_budgets,
        docs,
        "PodDisruptionBudget/cyclegan: selector",
        "minAvailable 2 >= 2 replica(s) of Deployment/gateway-api",
    )


def test_volume_that_names_a_missing_claim_or_configmap() -> None:
    docs = base()
    pod = obj(docs, "Deployment", "gateway-runner")["spec"]["template"]["spec"]
    pod["volumes"][0]["persistentVolumeClaim"]["claimName"] = "modaline-file"
    pod["volumes"][1]["configMap"]["name"] = "pipelines"
    pod["containers"][0]["volumeMounts"].append({"name": "cache", "mountPath": "/cache"})
    assert_reports(
        check_volume_refs,
        docs,
        "needs PersistentVolumeClaim modaline-file",
        "needs ConfigMap pipelines",
        "mounts undeclared volume cache",
    )
    assert check_volume_refs(docs, external_claims=["modaline-file"]) != []  # the ConfigMap is still missing


def test_secret_key_that_does_not_exist() -> None:
    docs = base()
    del obj(docs, "Secret", "modaline-secrets")["stringData"]["HF_TOKEN"]
    env_item(container(docs, "Deployment", "llm"), "OPENROUTER_API_KEY")["valueFrom"]["secretKeyRef"][
        "name"
    ] = "keys"
    container(docs, "Deployment", "gateway-api")["envFrom"][0]["configMapRef"]["name"] = "gateway-config"
    assert_reports(
        check_env_refs,
        docs,
        "env HF_TOKEN needs key HF_TOKEN of Secret modaline-secrets, which it lacks",
        "env OPENROUTER_API_KEY needs Secret keys, which does not exist",
        "envFrom needs ConfigMap gateway-config",
    )
    # a Secret made outside the manifests (existingSecret) is trusted, not looked into
    assert not [p for p in check_env_refs(docs, external_secrets=["keys"]) if "Secret keys" in p]


def test_worker_url_that_points_nowhere() -> None:
    docs = base()
    data = obj(docs, "ConfigMap", "modaline-gateway")["data"]
    data["MODALINE_LLM_URL"] = "http://llm:8081"
    data["MODALINE_IMAGE_URL"] = "http://img:8080"
    data["MODALINE_TTS_URL"] = "http://stt:8080"
    data["MODALINE_CYCLEGAN_URL"] = "cyclegan:8080"
    del data["MODALINE_STT_URL"]
    assert_reports(
        check_worker_urls,
        docs,
        "MODALINE_LLM_URL=http://llm:8081: Service llm has no port 8081",
        "names Service img, which does not exist",
        "Service stt reaches no container running `python -m workers tts`",
        "is not an http(s) URL",
        "worker stt runs but MODALINE_STT_URL is not set",
    )


def test_worker_url_to_a_service_whose_target_port_is_not_the_worker() -> None:
    docs = base()
    obj(docs, "Service", "llm")["spec"]["ports"][0]["targetPort"] = 9090
    assert_reports(
        check_worker_urls, docs, "reaches no container running `python -m workers llm` on port 9090"
    )


def test_probe_on_an_undeclared_port_or_the_wrong_path() -> None:
    docs = base()
    c = container(docs, "Deployment", "tts")
    c["readinessProbe"]["httpGet"]["port"] = "metrics"
    c["livenessProbe"]["httpGet"]["path"] = "/readyz"
    del container(docs, "Deployment", "stt")["startupProbe"]
    assert_reports(
        check_probes,
        docs,
        "Deployment/tts container worker: readinessProbe uses port 'metrics'",
        "livenessProbe must GET /healthz",
        "Deployment/stt container worker: no startupProbe",
    )


def test_network_policy_that_lets_others_reach_workers() -> None:
    docs = base()
    policy = obj(docs, "NetworkPolicy", "workers-from-gateway")
    policy["spec"]["ingress"][0]["from"] = [{"podSelector": {}}]
    assert_reports(check_network_policies, docs, "lets non-gateway pods in: ", "StatefulSet/postgresql")
    policy["spec"]["ingress"][0]["from"] = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    assert_reports(check_network_policies, docs, "allows an ipBlock")
    del policy["spec"]["ingress"][0]["from"]
    assert_reports(check_network_policies, docs, "allows every source")


def test_network_policy_missing_for_workers_or_gateway() -> None:
    docs = [
        d for d in base() if d["metadata"]["name"] not in ("workers-from-gateway", "gateway-from-ingress")
    ]
    assert_reports(
        check_network_policies,
        docs,
        "Deployment/llm: no NetworkPolicy lets the gateway (Deployment/gateway-api) reach it",
        "Deployment/gateway-api: the gateway API is isolated but no policy lets the ingress controller in",
    )
    docs = [d for d in docs if d["kind"] != "NetworkPolicy"]
    assert_reports(check_network_policies, docs, "Deployment/cyclegan: no NetworkPolicy selects this worker")


def test_insecure_pod_settings() -> None:
    docs = base()
    pod = obj(docs, "Deployment", "image")["spec"]["template"]["spec"]
    pod["securityContext"]["runAsNonRoot"] = False
    pod["automountServiceAccountToken"] = True
    c = pod["containers"][0]
    c["securityContext"]["allowPrivilegeEscalation"] = True
    c["securityContext"]["capabilities"]["drop"] = ["NET_RAW"]
    del c["resources"]["limits"]["memory"]
    c["volumeMounts"] = [m for m in c["volumeMounts"] if m["mountPath"] != "/tmp"]
    assert_reports(
        check_security,
        docs,
        "Deployment/image: automountServiceAccountToken",
        "runAsNonRoot is not true",
        "allowPrivilegeEscalation is not false",
        "do not drop ALL",
        "no memory limit",
        "nothing writable at /tmp",
    )


def test_service_monitor_on_a_missing_port_or_no_service() -> None:
    docs = copy.deepcopy(list(_helm_full()))
    assert check_service_monitors(docs) == []
    sm = obj(docs, "ServiceMonitor", "modaline")
    sm["spec"]["endpoints"][0]["port"] = "metrics"
    assert_reports(
        check_service_monitors, docs, "endpoint port metrics is not a port of Service/modaline-gateway"
    )
    sm["spec"]["selector"]["matchLabels"]["modaline.io/metrics"] = "yes"
    assert_reports(check_service_monitors, docs, "ServiceMonitor/modaline: selects no Service")


def test_start_command_that_names_no_module_or_capability() -> None:
    docs = base()
    container(docs, "Deployment", "llm")["args"] = ["ocr"]
    container(docs, "Deployment", "gateway-runner")["command"] = ["python", "-m", "gatway", "serve"]
    obj(docs, "Deployment", "gateway-api")["spec"]["template"]["spec"]["initContainers"][0]["command"][-1] = (
        "migrat"
    )
    del container(docs, "Deployment", "tts")["command"]
    assert_reports(
        check_commands,
        docs,
        "'ocr' is not a capability",
        "module gatway does not exist",
        "'migrat' is not a gateway command",
        "Deployment/tts container worker: runs a Modaline image without `python -m ...` command",
    )


def test_module_check_follows_the_tree(tmp_path: Path) -> None:
    assert module_problem("gateway", ["serve"]) is None
    assert module_problem("workers", ["llm"]) is None
    (tmp_path / "workers").mkdir()
    (tmp_path / "workers" / "__main__.py").write_text("")
    assert "gateway does not exist" in (module_problem("gateway", ["serve"], root=tmp_path) or "")
    assert "package workers/llm does not exist" in (module_problem("workers", ["llm"], root=tmp_path) or "")


def test_names_that_the_api_server_refuses() -> None:
    docs = base()
    obj(docs, "Service", "llm")["metadata"]["name"] = "LLM_worker"
    obj(docs, "Service", "tts")["metadata"]["name"] = "t" * 64
    obj(docs, "StatefulSet", "postgresql")["metadata"]["name"] = "p" * 62
    assert_reports(
        check_names,
        docs,
        "Service/LLM_worker: a Service name must be a DNS label",
        f"Service/{'t' * 64}",
        "exceed 63",
    )


def test_duplicate_objects() -> None:
    docs = base()
    docs.append(copy.deepcopy(obj(docs, "Service", "llm")))
    assert_reports(check_unique_names, docs, "Service/llm: defined twice")


# ---------------------------------------------------------------- Dockerfile and compose checkers

DOCKERFILE = (REPO / "docker" / "Dockerfile").read_text()
TARGETS = ("gateway", "worker", "worker-local")


def test_dockerfile_clean() -> None:
    assert dockerfile_problems(DOCKERFILE, TARGETS) == []


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        (
            'CMD ["python", "-m", "gateway", "serve"]',
            'CMD ["python", "-m", "gateways", "serve"]',
            "module gateways does not exist",
        ),
        (
            'CMD ["python", "-m", "workers", "llm"]\n\n####',
            'CMD ["python", "-m", "workers", "lm"]\n\n####',
            "'lm' is not a capability",
        ),
        ("RUN npm run build", "RUNN npm run build", "unknown instruction RUNN"),
        (
            "FROM python:3.11.14-slim-bookworm AS runtime",
            "FROM python:slim AS runtime",
            "base image python:slim is not pinned",
        ),
        (
            "COPY --from=ui /ui/dist /app/ui",
            "COPY --from=frontend /ui/dist /app/ui",
            "COPY --from=frontend names no stage",
        ),
        (
            "ENV MODALINE_HOST=0.0.0.0",
            "ENV HF_TOKEN=hf_abc MODALINE_HOST=0.0.0.0",
            "ENV HF_TOKEN bakes a secret",
        ),
    ],
)
def test_dockerfile_mistakes(old: str, new: str, fragment: str) -> None:
    assert old in DOCKERFILE
    problems = dockerfile_problems(DOCKERFILE.replace(old, new, 1), TARGETS)
    assert any(fragment in p for p in problems), problems


def test_dockerfile_root_user_and_missing_healthcheck() -> None:
    broken = DOCKERFILE.replace("USER 10001:10001\nEXPOSE 8000", "USER root\nEXPOSE 8000")
    head, _, tail = broken.partition("FROM runtime AS worker\n")
    tail = tail.replace("HEALTHCHECK", "# no healthcheck\n# HEALTHCHECK", 1).replace(
        '\n  CMD ["python", "-c"', "\n# CMD", 1
    )
    problems = dockerfile_problems(head + "FROM runtime AS worker\n" + tail, TARGETS)
    assert any("target gateway: USER 'root'" in p for p in problems), problems
    assert any("target worker: no HEALTHCHECK" in p for p in problems), problems


def _compose() -> dict[str, Any]:
    """docker-compose.yml with anchors, merge keys and ${VAR:-default} resolved (to the defaults), as
    `docker-compose config` prints it without a .env (test_deploy_docker.py runs the real thing)."""
    text = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", (REPO / "docker-compose.yml").read_text())
    return yaml.safe_load(text)


def test_compose_clean() -> None:
    assert compose_problems(_compose(), TARGETS) == []


def test_compose_mistakes() -> None:
    config = _compose()
    env = config["services"]["gateway"]["environment"]
    env["MODALINE_LLM_URL"] = "http://llm:8000"
    env["MODALINE_TTS_URL"] = "http://stt:8080"
    env["MODALINE_STT_URL"] = "http://speech:8080"
    config["services"]["gateway"]["depends_on"]["migrate"]["condition"] = "service_started"
    config["services"]["gateway"]["depends_on"]["postgres"]["condition"] = "service_started"
    config["services"]["image"]["command"] = ["python", "-m", "workers", "img"]
    config["services"]["cyclegan"]["build"]["target"] = "workers"
    assert_problems = "\n".join(compose_problems(config, TARGETS))
    for fragment in (
        "MODALINE_LLM_URL=http://llm:8000 but llm listens on 8080",
        "MODALINE_TTS_URL=http://stt:8080 points at a service not running `python -m workers tts`",
        "MODALINE_STT_URL=http://speech:8080 names no service",
        "waits for migrate without condition service_completed_successfully",
        "does not wait for postgres to be healthy",
        "'img' is not a capability",
        "build target workers is not a Dockerfile stage",
    ):
        assert fragment in assert_problems, assert_problems
    del config["services"]["postgres"]["healthcheck"]
    assert "database service postgres has no healthcheck" in "\n".join(compose_problems(config, TARGETS))
