"""Every service's Prometheus endpoint, scraped around a chat turn and an upload: the gateway's
`/api/v1/metrics` and the metrics port of the conversation, orchestrator, rag and worker
processes. Each one's figures move for the work it did, and every metric the alert rules and the
dashboard (deploy/monitoring) name is one that some service exports."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest
import yaml

from e2e_support import auth, stream_chat, upload, wait_for_document

pytestmark = pytest.mark.e2e

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)")
_TYPE = re.compile(r"^# TYPE (\S+) (\S+)")


def endpoints(fleet) -> dict[str, str]:
    urls = {"gateway": f"{fleet.url}/api/v1/metrics"}
    for prefix, port in fleet.ports.metrics.items():
        urls[prefix.lower()] = f"http://127.0.0.1:{port}/metrics"
    return urls


def scrape(url: str) -> tuple[dict[str, float], set[str]]:
    """(sample name with labels -> value, the names a scraper can query)."""
    text = httpx.get(url, timeout=10).text
    samples: dict[str, float] = {}
    names: set[str] = set()
    for line in text.splitlines():
        if (typed := _TYPE.match(line)) is not None:
            name, kind = typed.groups()
            # (a labelled metric that has not been used yet has this line and no samples)
            names |= {"counter": {name, name.removesuffix("_total") + "_total"},
                      "histogram": {name + s for s in ("_bucket", "_sum", "_count")},
                      "summary": {name + "_sum", name + "_count"}}.get(kind, {name})
        elif (sample := _SAMPLE.match(line)) is not None:
            name, labels, value = sample.groups()
            names.add(name)
            samples[name + (labels or "")] = float(value)
    return samples, names


def total(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include `labels`."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(v for key, v in samples.items() if key.split("{")[0] == name and all(w in key for w in wanted))


def metric_names(expr: str) -> set[str]:
    """The metrics a PromQL expression reads."""
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)  # label lists
    expr = re.sub(r"\$labels\.\w+|\[[^\]]*\]", "", expr)
    return {m for m in re.findall(r"\b([a-z_][a-z0-9_]*_[a-z0-9_]+)\b(?!\s*\()", expr)}


def monitored_metrics() -> set[str]:
    names: set[str] = set()
    for group in yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"]:
        for rule in group["rules"]:
            names |= metric_names(rule["expr"])
    for panel in json.loads((MONITORING / "dashboard.json").read_text())["panels"]:
        for target in panel["targets"]:
            names |= metric_names(target["expr"])
    return names


def test_the_monitoring_expressions_are_read_right():
    assert metric_names('sum by (le, provider) (rate(llm_time_to_first_token_seconds_bucket{a="b"}[5m])) > 5') == {
        "llm_time_to_first_token_seconds_bucket"}
    assert metric_names("max by (queue) (ingest_queue_depth) > 0 and on () sum(rate(ingest_tasks_total[15m])) == 0") == {
        "ingest_queue_depth", "ingest_tasks_total"}
    assert len(monitored_metrics()) >= 20


def test_every_service_reports_the_work_it_did(http, fleet, alice):
    urls = endpoints(fleet)
    assert set(urls) == {"gateway", "conversation", "llm", "rag", "ingest"}
    before = {name: scrape(url)[0] for name, url in urls.items()}

    reply = upload(http, alice, "metrics.txt", b"The observatory's metrics night: Saturn rose at 21:40 over the eastern ridge.")
    assert reply.status_code in (201, 202), reply.text
    document = wait_for_document(http, alice, reply.json()["documents"][0]["id"])
    assert document["status"] == "indexed", document
    events = stream_chat(http, alice, {"message": "When did Saturn rise?", "model": "fake:fake-model", "use_rag": True})
    assert events[-1][0] == "complete", events[-1]

    deadline = time.monotonic() + 30
    while True:  # the worker's queue sampler runs on its own clock
        after = {name: scrape(url)[0] for name, url in urls.items()}
        if total(after["ingest"], "ingest_queue_sampled_timestamp_seconds") > 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    def moved(service: str, name: str, **labels: str) -> bool:
        return total(after[service], name, **labels) > total(before[service], name, **labels)

    assert moved("gateway", "http_requests_total", route="/api/v1/chat/stream", status="200")
    assert moved("gateway", "http_request_duration_seconds_count")
    assert moved("conversation", "grpc_server_handled_total", grpc_method="Chat", grpc_code="OK")
    assert moved("llm", "grpc_server_handled_total", grpc_method="Generate", grpc_code="OK")
    assert moved("llm", "llm_time_to_first_token_seconds_count", provider="fake")
    assert moved("llm", "gen_ai_client_token_usage_count", gen_ai_provider_name="fake", gen_ai_token_type="output")
    assert moved("llm", "gen_ai_client_operation_duration_seconds_count", gen_ai_operation_name="chat")
    assert moved("llm", "llm_provider_attempts_total", provider="fake", outcome="ok")
    assert moved("rag", "grpc_server_handled_total", grpc_method="Search", grpc_code="OK")
    assert moved("rag", "rag_search_seconds_count")
    assert moved("ingest", "ingest_tasks_total", outcome="success")
    assert moved("ingest", "ingest_task_seconds_count")
    assert total(after["ingest"], "ingest_queue_sampled_timestamp_seconds") > 0


def test_every_metric_the_alerts_and_dashboard_read_is_exported(fleet):
    exported: set[str] = set()
    for url in endpoints(fleet).values():
        exported |= scrape(url)[1]
    missing = monitored_metrics() - exported
    assert not missing, f"named in deploy/monitoring but exported by no service: {sorted(missing)}"
