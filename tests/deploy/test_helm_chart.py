"""The Helm chart renders offline (Helm's own library) for each value set we ship (the defaults,
production, production with KEDA) into manifests that validate against the Kubernetes API schemas,
and the ScaledObject against KEDA's (from its published models, in tests/deploy/schemas); and
every component is wired the way the fleet needs: probes, security, autoscaling, disruption
budgets, only the intended network paths, migrations before the pods."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import helm_python
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "chatbot"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
COMPONENTS = {"gateway", "conversation", "llm-orchestrator", "rag", "ingest-worker"}
VALUE_SETS = {"default": [], "production": ["values-production.yaml"], "keda": ["values-production.yaml", "values-keda.yaml"]}
# The calls the fleet makes (ARCHITECTURE.md): caller -> callee gRPC.
PATHS = {("gateway", "conversation"), ("gateway", "llm-orchestrator"), ("gateway", "rag"), ("gateway", "ingest-worker"),
         ("conversation", "llm-orchestrator"), ("conversation", "rag"), ("llm-orchestrator", "rag"),
         ("ingest-worker", "rag"), ("ingest-worker", "conversation"), ("ingest-worker", "llm-orchestrator")}


def merged(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def values_of(value_set: str) -> dict:
    values: dict = {}
    for name in VALUE_SETS[value_set]:
        values = merged(values, yaml.safe_load((CHART / name).read_text()))
    return values


def render(values: dict | None = None) -> list[dict]:
    chart = helm_python.Chart.load(str(CHART))
    try:
        manifests = chart.render(values or {}, name="chatbot", namespace="chat", is_install=True)
    finally:
        chart.close()
    return [doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


@pytest.fixture(scope="module", params=list(VALUE_SETS))
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(values_of(request.param))


def test_chart_lints_without_errors():
    assert helm_python.lint(str(CHART), strict=False)["errors"] == []


def test_every_manifest_validates_against_its_schema(rendered):
    name, docs = rendered
    custom = [d for d in docs if d["apiVersion"].startswith("keda.sh/")]
    for doc in docs:
        if doc not in custom:
            kubernetes_validate.validate(doc, "1.33.0", strict=True)
    if name == "keda":
        assert [d["kind"] for d in custom] == ["ScaledObject"]
    if custom:
        check = subprocess.run(["node", "validate.mjs"], input=json.dumps(custom), text=True, capture_output=True, cwd=SCHEMAS)
        assert check.returncode == 0, check.stdout + check.stderr


def test_the_schema_check_refuses_a_bad_scaled_object():
    """The KEDA check can fail: a ScaledObject with a replica count that is not a number."""
    docs = render(values_of("keda"))
    bad = copy.deepcopy(by_kind(docs, "ScaledObject")["chatbot-ingest-worker"])
    bad["spec"]["maxReplicaCount"] = "many"
    check = subprocess.run(["node", "validate.mjs"], input=json.dumps([bad]), text=True, capture_output=True, cwd=SCHEMAS)
    assert check.returncode == 1 and "maxReplicaCount" in check.stdout


def test_components_are_wired(rendered):
    _, docs = rendered
    deployments = {n.removeprefix("chatbot-"): d for n, d in by_kind(docs, "Deployment").items()}
    assert set(deployments) == COMPONENTS
    assert {n.removeprefix("chatbot-") for n in by_kind(docs, "Service")} == COMPONENTS
    assert any(d["kind"] == "PersistentVolumeClaim" and d["spec"]["accessModes"] == ["ReadWriteMany"] for d in docs)
    configs = by_kind(docs, "ConfigMap")

    def mounts(name):
        return {m["mountPath"] for m in pod(deployments[name])["containers"][0]["volumeMounts"]}

    def env(name):
        return configs[f"chatbot-{name}-env"]["data"]

    assert "/data/blobs" in mounts("gateway") and "/data/blobs" in mounts("ingest-worker")  # one shared blob store
    assert "/data/models" in mounts("rag") and "/data/models" in mounts("ingest-worker")
    assert env("gateway")["GATEWAY_JWT_KEYS_DIR"] == "/etc/chatbot/jwt-keys" and "/etc/chatbot/jwt-keys" in mounts("gateway")
    assert env("rag")["RAG_QDRANT_URL"].startswith("http") and env("ingest-worker")["INGEST_RAG_TARGET"].endswith(":50053")
    for name, d in deployments.items():
        spec, container = pod(d), pod(d)["containers"][0]
        assert env(name)["OTEL_SERVICE_NAME"] == name
        assert {"configMapRef": {"name": f"chatbot-{name}-env"}} in container["envFrom"]
        assert d["spec"]["template"]["metadata"]["annotations"]["checksum/env"]
        # hardened: non-root, read-only root filesystem, no capabilities, no API token
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["automountServiceAccountToken"] is False
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert spec["serviceAccountName"] == f"chatbot-{name}"
        assert {c["topologyKey"] for c in spec["topologySpreadConstraints"]} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
        assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(container)
        if name != "gateway":
            assert "grpc" in container["readinessProbe"]
    assert all(sa["automountServiceAccountToken"] is False for sa in by_kind(docs, "ServiceAccount").values())
    worker = pod(deployments["ingest-worker"])["containers"][0]
    assert worker["livenessProbe"]["exec"]["command"] == ["python", "-m", "ingest_worker", "alive"]
    assert env("ingest-worker")["INGEST_HEARTBEAT_FILE"].startswith("/tmp/")  # on the writable emptyDir
    assert "httpGet" in pod(deployments["gateway"])["containers"][0]["readinessProbe"]
    assert {n.removeprefix("chatbot-") for n in by_kind(docs, "PodDisruptionBudget")} == COMPONENTS


def test_migrations_run_once_before_the_pods_as_a_hook(rendered):
    _, docs = rendered
    jobs = by_kind(docs, "Job")
    assert set(jobs) == {"chatbot-migrate-gateway", "chatbot-migrate-conversation", "chatbot-migrate-llm-orchestrator",
                         "chatbot-migrate-rag"}
    for job in jobs.values():
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        container = pod(job)["containers"][0]
        assert container["args"] == ["migrate"] and container["securityContext"]["readOnlyRootFilesystem"] is True
        # the settings written out (a pre-install hook runs before the release's ConfigMaps exist)
        assert "configMapRef" not in json.dumps(container)
    gateway_job = {e["name"]: e.get("value") for e in pod(jobs["chatbot-migrate-gateway"])["containers"][0]["env"]}
    assert gateway_job["OTEL_SERVICE_NAME"] == "gateway"
    assert all("initContainers" not in pod(d) for d in by_kind(docs, "Deployment").values())


def test_autoscaling_follows_cpu_and_the_orchestrators_streams():
    docs = render(values_of("production"))
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    assert {n.removeprefix("chatbot-") for n in hpas} == COMPONENTS
    for hpa in hpas.values():
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    streams = hpas["chatbot-llm-orchestrator"]["spec"]["metrics"][1]["pods"]
    assert streams["metric"]["name"] == "grpc_server_active_rpcs" and streams["metric"]["selector"]["matchLabels"] == {"grpc_method": "Generate"}
    # an autoscaled Deployment leaves its replica count to the HPA
    assert all("replicas" not in d["spec"] for d in by_kind(docs, "Deployment").values())


def test_keda_takes_over_the_workers_scaling_on_the_queue_length():
    docs = render(values_of("keda"))
    scaled = by_kind(docs, "ScaledObject")["chatbot-ingest-worker"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "chatbot-ingest-worker"
    queue = scaled["spec"]["triggers"][0]
    assert queue["type"] == "rabbitmq" and queue["metadata"]["queueName"] == "ingest" and queue["metadata"]["mode"] == "QueueLength"
    assert "chatbot-ingest-worker" not in by_kind(docs, "HorizontalPodAutoscaler")  # KEDA owns it
    redis = render(merged(values_of("keda"), {"keda": {"broker": "redis"}}))
    trigger = by_kind(redis, "ScaledObject")["chatbot-ingest-worker"]["spec"]["triggers"][0]
    assert trigger["type"] == "redis" and trigger["metadata"]["listName"] == "ingest"
    assert not [d for d in render() if d["kind"] == "ScaledObject"], "off by default"


def test_network_policies_allow_only_the_intended_paths():
    docs = render(values_of("production"))
    policies = {n.removeprefix("chatbot-"): p for n, p in by_kind(docs, "NetworkPolicy").items()}
    assert set(policies) == COMPONENTS
    ports = {name: c.get("grpc") for name, c in yaml.safe_load((CHART / "values.yaml").read_text())["components"].items()}

    allowed_in = set()
    for callee, policy in policies.items():
        assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        for rule in policy["spec"]["ingress"]:
            if rule["ports"] == [{"port": "grpc", "protocol": "TCP"}]:
                allowed_in |= {(peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"], callee) for peer in rule["from"]}
    assert allowed_in == PATHS

    allowed_out = set()
    for caller, policy in policies.items():
        for rule in policy["spec"]["egress"]:
            for peer in rule.get("to", []):
                target = peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
                if target in COMPONENTS:
                    assert rule["ports"] == [{"port": ports[target], "protocol": "TCP"}]
                    allowed_out.add((caller, target))
    assert allowed_out == PATHS

    def egress_ports(name):
        return {p["port"] for rule in policies[name]["spec"]["egress"] for p in rule["ports"]}

    assert 6334 in egress_ports("rag") and 6334 not in egress_ports("gateway")  # only rag talks to Qdrant
    assert 443 in egress_ports("llm-orchestrator") and 443 not in egress_ports("rag")  # providers, from the orchestrator only
    gateway_in = policies["gateway"]["spec"]["ingress"][0]
    assert gateway_in["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}]


def test_the_ingress_lets_answers_stream():
    docs = render(values_of("production"))
    ingress = by_kind(docs, "Ingress")["chatbot-gateway"]
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert notes["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert int(notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600
    assert ingress["spec"]["tls"][0]["secretName"]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == "chatbot-gateway"


@pytest.mark.parametrize("claim", ["shared-nfs"])
def test_an_existing_claim_replaces_the_generated_one(claim):
    docs = render({"blobs": {"existingClaim": claim}})
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    gateway = by_kind(docs, "Deployment")["chatbot-gateway"]
    volumes = {v["name"]: v for v in pod(gateway)["volumes"]}
    assert volumes["blobs"]["persistentVolumeClaim"]["claimName"] == claim


def test_secret_keys_reach_only_the_components_named():
    docs = render({"secretEnv": [{"name": "CONVERSATION_DATABASE_URL", "secret": "pg-app", "key": "uri", "components": ["conversation"]}]})
    deployments = by_kind(docs, "Deployment")
    conversation = pod(deployments["chatbot-conversation"])["containers"][0]["env"]
    assert conversation == [{"name": "CONVERSATION_DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "pg-app", "key": "uri"}}}]
    assert "env" not in pod(deployments["chatbot-rag"])["containers"][0]
    job = pod(by_kind(docs, "Job")["chatbot-migrate-conversation"])["containers"][0]["env"]
    assert {"name": "CONVERSATION_DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "pg-app", "key": "uri"}}} in job


def test_a_component_image_set_by_skaffold_wins():
    docs = render({"components": {"rag": {"image": "registry.example.com/chatbot/rag:abc@sha256:" + "0" * 64}}})
    deployments = by_kind(docs, "Deployment")
    assert pod(deployments["chatbot-rag"])["containers"][0]["image"].endswith("@sha256:" + "0" * 64)
    assert pod(deployments["chatbot-gateway"])["containers"][0]["image"] == "chatbot/gateway:latest"


def test_skaffold_builds_every_image_from_the_root_and_deploys_the_chart_with_profiles():
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    artifacts = {a["image"].removeprefix("chatbot/"): a["docker"] for a in config["build"]["artifacts"]}
    assert set(artifacts) == COMPONENTS
    assert artifacts["gateway"]["target"] == "gateway" and {a["target"] for n, a in artifacts.items() if n != "gateway"} == {"service"}
    dockerfile = (ROOT / artifacts["rag"]["dockerfile"]).read_text()
    for stage in ("AS web", "AS build", "AS runtime", "AS gateway", "AS service"):
        assert stage in dockerfile
    assert "USER 10001" in dockerfile and (ROOT / ".dockerignore").read_text().count(".venv")
    release = config["manifests"]["helm"]["releases"][0]
    assert (ROOT / release["chartPath"] / "Chart.yaml").exists()
    assert set(release["setValueTemplates"]) == {f"components.{n}.image" for n in COMPONENTS}
    profiles = {p["name"]: p for p in config["profiles"]}
    assert {"dev", "prod", "keda"} <= set(profiles)
    for name in ("prod", "keda"):
        for path in profiles[name]["patches"][0]["value"]:
            assert (ROOT / path).exists(), path
