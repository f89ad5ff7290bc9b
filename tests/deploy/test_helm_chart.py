"""The Helm chart renders offline (Helm's own library) into manifests that validate against
the Kubernetes API schemas, with every component wired the way the fleet needs."""

from pathlib import Path

import helm_python
import kubernetes_validate
import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "chatbot"
COMPONENTS = {"gateway", "conversation", "llm-orchestrator", "rag", "ingest-worker"}


def render(values: dict | None = None) -> list[dict]:
    chart = helm_python.Chart.load(str(CHART))
    try:
        manifests = chart.render(values or {}, name="chatbot", namespace="chat", is_install=True)
    finally:
        chart.close()
    return [doc for text in manifests.values() for doc in yaml.safe_load_all(text) if doc]


def test_chart_lints_without_errors():
    assert helm_python.lint(str(CHART), strict=False)["errors"] == []


def test_every_manifest_validates_against_the_kubernetes_schema():
    docs = render()
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, "1.33.0", strict=True)


def test_components_are_wired():
    docs = render()
    deployments = {d["metadata"]["name"].removeprefix("chatbot-"): d for d in docs if d["kind"] == "Deployment"}
    services = {d["metadata"]["name"].removeprefix("chatbot-") for d in docs if d["kind"] == "Service"}
    assert set(deployments) == COMPONENTS and services == COMPONENTS
    assert any(d["kind"] == "PersistentVolumeClaim" and d["spec"]["accessModes"] == ["ReadWriteMany"] for d in docs)

    def mounts(name):
        return {m["mountPath"] for m in deployments[name]["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}

    def env(name):
        return {e["name"]: e.get("value") for e in deployments[name]["spec"]["template"]["spec"]["containers"][0]["env"]}

    assert "/data/blobs" in mounts("gateway") and "/data/blobs" in mounts("ingest-worker")  # one shared blob store
    assert "/data/models" in mounts("rag") and "/data/models" in mounts("ingest-worker")
    assert env("gateway")["GATEWAY_JWT_KEYS_DIR"] == "/etc/chatbot/jwt-keys" and "/etc/chatbot/jwt-keys" in mounts("gateway")
    assert env("rag")["RAG_QDRANT_URL"].startswith("http") and env("ingest-worker")["INGEST_RAG_TARGET"].endswith(":50053")
    for name in ("gateway", "conversation", "rag"):
        init = deployments[name]["spec"]["template"]["spec"]["initContainers"]
        assert init[0]["args"] == ["migrate"]
    for name in COMPONENTS - {"gateway"}:
        assert "grpc" in deployments[name]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    for d in deployments.values():
        assert d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("claim", ["shared-nfs"])
def test_an_existing_claim_replaces_the_generated_one(claim):
    docs = render({"blobs": {"existingClaim": claim}})
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    gateway = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "chatbot-gateway")
    volumes = {v["name"]: v for v in gateway["spec"]["template"]["spec"]["volumes"]}
    assert volumes["blobs"]["persistentVolumeClaim"]["claimName"] == claim
