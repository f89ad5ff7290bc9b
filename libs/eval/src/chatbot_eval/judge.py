"""The judge: what it is asked, how its replies are read, and a judge on any OpenAI-compatible
endpoint.

A judge is anything with `ask(system, prompt) -> str`: the command's `OpenAIJudge` over HTTP,
the worker's judge through the llm-orchestrator's gRPC API. Every prompt asks for one JSON
object; `parse_json` finds it in what came back (code fences, prose around it) and anything else
is a `JudgeOutputError`, so a judge that rambles gives no score rather than a wrong one.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Protocol

import httpx


class JudgeError(Exception):
    """The judge could not be asked (down, refused, too slow)."""


class JudgeOutputError(JudgeError):
    """The judge answered, but not in the shape asked for."""


class Judge(Protocol):
    def ask(self, system: str, prompt: str) -> str: ...


SYSTEM = ("You are a strict evaluator of a retrieval-augmented assistant. You judge only from the text you are given, "
          "never from your own knowledge. Reply with one JSON object and nothing else.")

CLAIMS = """Break the answer below into short, self-contained factual claims: each one understandable on its own (replace pronouns
with what they stand for), one fact each. Leave out greetings, offers of help and sentences that state no fact.

Question: {question}

Answer: {answer}

Reply as JSON: {{"claims": ["first claim", "second claim"]}}"""

VERDICTS = """Context:
{context}

For each numbered claim, decide whether the context above supports it: verdict 1 when the claim can be directly inferred from
the context, 0 when it cannot (not mentioned, or contradicted).

Claims:
{claims}

Reply as JSON with one verdict per claim, in order: {{"verdicts": [{{"claim": 1, "reason": "short", "verdict": 1}}]}}"""

QUESTIONS = """Answer:
{answer}

Write {n} different questions that this answer answers, as a user would ask them. Also say whether the answer is noncommittal:
1 when it is evasive, vague or says it does not know, 0 otherwise.

Reply as JSON: {{"questions": ["...", "..."], "noncommittal": 0}}"""

USEFUL = """Question: {question}

Answer: {reference}

Passages, numbered in the order they were retrieved:
{passages}

For each passage, decide whether it was useful in arriving at the answer to the question: verdict 1 if it was, 0 if not.

Reply as JSON with one verdict per passage, in order: {{"verdicts": [{{"passage": 1, "reason": "short", "verdict": 0}}]}}"""

ATTRIBUTED = """Context:
{context}

Reference answer, in numbered sentences:
{sentences}

For each sentence of the reference answer, decide whether it can be attributed to the context: verdict 1 if the context
supports it, 0 if not.

Reply as JSON with one verdict per sentence, in order: {{"verdicts": [{{"sentence": 1, "reason": "short", "verdict": 1}}]}}"""

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def parse_json(text: str) -> dict[str, Any]:
    """The first JSON object in the judge's reply."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except json.JSONDecodeError:
                start = candidate.find("{", start + 1)
                continue
            if isinstance(value, dict):
                return value
            start = candidate.find("{", start + 1)
    raise JudgeOutputError("the judge's reply holds no JSON object")


def verdict(value: Any) -> int:
    """1 or 0 from what judges write: numbers, booleans, yes/no."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in {"1", "yes", "true", "supported"}:
        return 1
    if isinstance(value, str) and value.strip().lower() in {"0", "no", "false", "unsupported", "not supported"}:
        return 0
    raise JudgeOutputError(f"not a verdict: {str(value)[:40]!r}")


def verdicts(reply: dict[str, Any], expected: int) -> list[int]:
    """One verdict per item asked about, in order; a list of another length is no answer."""
    items = reply.get("verdicts")
    if not isinstance(items, list) or len(items) != expected:
        raise JudgeOutputError(f"expected {expected} verdicts, got {len(items) if isinstance(items, list) else 'none'}")
    return [verdict(item.get("verdict") if isinstance(item, dict) else item) for item in items]


def strings(reply: dict[str, Any], key: str) -> list[str]:
    items = reply.get(key)
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise JudgeOutputError(f"expected a list of strings under {key!r}")
    return [" ".join(i.split()) for i in items if i.strip()]


class OpenAIJudge:
    """A judge on an OpenAI-compatible `/chat/completions` endpoint (OpenAI, vLLM, Ollama, or a
    deployment's own `/v1`). A 429 or 503 is waited out (its Retry-After, else a backoff)."""

    def __init__(self, base_url: str, model: str, api_key: str = "", *, timeout: float = 120.0, attempts: int = 4,
                 max_tokens: int = 512) -> None:
        self.model = model
        self._max_tokens = max_tokens
        self._attempts = attempts
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def ask(self, system: str, prompt: str) -> str:
        body = {"model": self.model, "temperature": 0, "max_tokens": self._max_tokens,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}]}
        for attempt in range(self._attempts):
            try:
                reply = self._http.post("/chat/completions", json=body)
            except httpx.HTTPError as exc:
                if attempt + 1 == self._attempts:
                    raise JudgeError(f"the judge could not be reached: {type(exc).__name__}") from None
                time.sleep(2 ** attempt)
                continue
            if reply.status_code in (429, 503) and attempt + 1 < self._attempts:
                time.sleep(retry_after(reply, 2 ** attempt))
                continue
            if reply.status_code != 200:
                raise JudgeError(f"the judge answered HTTP {reply.status_code}")
            try:
                return reply.json()["choices"][0]["message"]["content"] or ""
            except (ValueError, KeyError, IndexError, TypeError):
                raise JudgeOutputError("the judge's reply is not a chat completion") from None
        raise JudgeError("the judge kept refusing")

    def close(self) -> None:
        self._http.close()


def retry_after(reply: httpx.Response, default: float, ceiling: float = 120.0) -> float:
    """Seconds a 429 or 503 asks to wait (Retry-After in seconds), else `default`."""
    try:
        return min(ceiling, max(0.0, float(reply.headers.get("retry-after", ""))))
    except ValueError:
        return default
