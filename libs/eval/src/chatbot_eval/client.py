"""The platform's public API as the command uses it: search, a grounded chat turn, a cited
passage. Every call waits out a 429 (or 503) for as long as its Retry-After says, so a run
against a rate-limited deployment slows down instead of failing."""

from __future__ import annotations

import time
from typing import Any

import httpx

from chatbot_eval.judge import retry_after


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class PlatformClient:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 300.0, attempts: int = 8) -> None:
        self._attempts = attempts
        self.waited_seconds = 0.0  # time spent honouring Retry-After, for the report
        self._http = httpx.Client(base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout)

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        for attempt in range(self._attempts):
            try:
                reply = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt + 1 == self._attempts:
                    raise ApiError(0, f"the deployment could not be reached ({type(exc).__name__})") from None
                time.sleep(min(30, 2 ** attempt))
                continue
            if reply.status_code in (429, 503) and attempt + 1 < self._attempts:
                wait = retry_after(reply, min(30, 2 ** attempt))
                self.waited_seconds += wait
                time.sleep(wait)
                continue
            if reply.status_code >= 400:
                raise ApiError(reply.status_code, _message(reply))
            return reply
        raise ApiError(429, "still rate limited after every retry")

    def me(self) -> dict[str, Any]:
        return self._call("GET", "/api/v1/me").json()

    def search(self, query: str, top_k: int) -> list[dict[str, Any]]:
        """The hits in rank order, each with its whole passage (`chunk.text`)."""
        return self._call("POST", "/api/v1/search", json={"query": query, "top_k": top_k}).json()["hits"]

    def chat(self, question: str, model: str | None = None) -> dict[str, Any]:
        """A grounded answer in a conversation of its own (retrieval on)."""
        body: dict[str, Any] = {"message": question, "use_rag": True}
        if model:
            body["model"] = model
        return self._call("POST", "/api/v1/chat", json=body).json()

    def chunk(self, document_id: str, chunk_id: str) -> str:
        return self._call("GET", f"/api/v1/documents/{document_id}/chunks/{chunk_id}").json()["text"]

    def delete_conversation(self, conversation_id: str) -> None:
        self._call("DELETE", f"/api/v1/conversations/{conversation_id}")

    def close(self) -> None:
        self._http.close()


def _message(reply: httpx.Response) -> str:
    try:
        return str(reply.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return reply.reason_phrase
