"""The gateway's side of the guardrails: what users type is screened for prompt injection
under their tenant's policy (block: 400 CONTENT_BLOCKED; flag: audited and let through; allow),
and what the conversation service caught during a turn is written to the audit log."""

from __future__ import annotations

from fastapi import Request
from prometheus_client import Counter

from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.guardrails.injection import detect
from gateway import audit
from gateway.security import Principal

INJECTIONS = Counter("guardrail_injections_total", "Prompt injections detected", ["where", "action"])
LEAKS = Counter("guardrail_leaks_total", "Replies stopped for disclosing the system prompt canary")


async def screen_input(request: Request, principal: Principal, texts: list[str],
                       kinds: list[str] | None = None) -> tuple[list[str], str]:
    """Returns the texts with invisible characters removed, and the tenant's policy. `kinds`
    says, per text, "message" (a user's, the default) or "instructions" (a system prompt, or a
    message in the assistant's own voice)."""
    policy = (await request.app.state.tenants.get(principal.tenant_id)).injection_policy
    cleaned = []
    found: set[str] = set()
    evidence: list[str] = []
    for text, kind in zip(texts, kinds or ["message"] * len(texts), strict=True):
        verdict = detect(text, kind)
        cleaned.append(verdict.cleaned)
        found.update(verdict.categories)
        evidence += verdict.evidence
    if found and policy != "allow":
        action = "blocked" if policy == "block" else "flagged"
        INJECTIONS.labels("input", action).inc()
        await audit.write(request.app.state.sessions, audit.by(
            principal, "guardrail.injection", request, outcome=action,
            details={"where": "input", "categories": sorted(found), "evidence": [e[:60] for e in evidence[:3]]},
        ))
        if policy == "block":
            raise AppError(ErrorCode.CONTENT_BLOCKED, "the message looks like a prompt injection and was blocked by your organisation's policy",
                           {"categories": sorted(found)})
    return cleaned, policy


async def record_leak(request: Request, principal: Principal, where: str) -> None:
    """A reply stopped by the gateway itself (on /v1) for disclosing the caller's system messages."""
    LEAKS.inc()
    await audit.write(request.app.state.sessions, audit.by(
        principal, "guardrail.leak", request, outcome="blocked", details={"where": where, "action": "stopped", "categories": []},
    ))


async def record_turn_event(request: Request, principal: Principal, event) -> None:
    """A GuardrailEvent from the conversation service, into the audit log."""
    if event.kind == "system_prompt_leak":
        LEAKS.inc()
    else:
        INJECTIONS.labels("source", event.action).inc()
    await audit.write(request.app.state.sessions, audit.by(
        principal, "guardrail.leak" if event.kind == "system_prompt_leak" else "guardrail.injection", request,
        outcome="blocked", target_type="chunk" if event.chunk_id else "", target_id=event.chunk_id,
        details={"where": "source" if event.document_id else "reply", "action": event.action,
                 "categories": list(event.categories), "document_id": event.document_id},
    ))
