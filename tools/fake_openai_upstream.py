"""An LLM provider for tests and benchmarks, OpenAI-compatible (`/v1/chat/completions`) and
Anthropic-compatible (`/v1/messages`): streams `--tokens` chunks `--gap-ms` apart. It stands in
only for paid external providers, and is always reached over real HTTP. Both wires share one
script and one set of injected faults.

    python tools/fake_openai_upstream.py --port 9100 --tokens 20 --gap-ms 10
    POST /control {"fail_next": 2, "status": 503}   # the next 2 requests answer 503 (with "error_message")
    POST /control {"fail_after": 1}                 # answer 1 more request, then fail every one after it
    POST /control {"retry_after": 2}                # ... and with a Retry-After header of 2 s
    POST /control {"hang_next": 1}                  # the next request gets no answer at all (its client gives up)
    POST /control {"reset_next": 1}                 # the next request's connection breaks before any chunk
    POST /control {"malformed_after": 2}            # after 2 text chunks, a chunk that is not JSON (-1: never)
    POST /control {"stall_after": 2}                # after 2 text chunks, silence until the client leaves (0: never)
    POST /control {"script": "text", "script_piece": 3}  # stream this text in 3-character pieces
    POST /control {"gap_ms": 200}                   # from now on, this long between chunks
    POST /control {"cut_after": 4}                  # break the connection after 4 text chunks (0: never)
    POST /control {"echo": true}                    # a model that leaks: stream back the whole prompt
    POST /control {"obey": true}                    # a model that obeys every injection (below)
    POST /control {"tool_turns": [[{"name": "f", "arguments": "{\"x\": 1}"}], ...]}
                                                    # each request takes the first turn: those tool calls
                                                    # (after any script text), streamed in argument fragments
                                                    # of `script_piece` characters; then plain answers again;
                                                    # {{system}} in arguments: the system messages, JSON-escaped
                                                    # (a model that exfiltrates its instructions through a tool)
    POST /control {"answers": [{"match": "regex", "text": "..."}]}  # scripted answers: the first rule whose regex
                                                    # matches the request's messages gives the text (a judge's verdicts)
    POST /v1/embeddings                             # OpenAI's embeddings API: 8 numbers per text from its hash
    POST /control {"embedding_usage": false}        # ... answered without a usage field, as some servers do
    POST /control {"reset": true}                   # every fault off, the counters at zero
    GET /stats                                      # the state; "requests" and "request_times" count every
                                                    # request, "last_messages" is what the last one sent,
                                                    # "bodies" the last 20 request bodies as received

A request that forces one tool (OpenAI's tool_choice {"type": "function", ...}, Anthropic's
{"type": "tool", ...}) with no tool turn scripted gets a call to that tool, its arguments the
script text (or {}): how a provider honours a forced call.

An obedient model does what any text it was sent asks: a quoted phrase it is told to say, print,
reply or respond with comes first in its answer, and a question about its instructions, prompt,
rules or what it was told is answered by quoting every system message whole.

`start_upstream()` runs it as a process on a free port for tests and benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from fleet import free_port


_ORDER = re.compile(r"\b(?:say|print|output|write|repeat|reply(?:\s+with)?|respond(?:\s+with)?|answer(?:\s+with)?|report)\b\W{0,3}[\"“'<]([^\"”'>\n]{1,80})[\"”'>]",
                    re.IGNORECASE)
_ABOUT_ITSELF = re.compile(r"instruction|prompt|system|told|rules|configuration|directive|guideline|initiali[sz]ation", re.IGNORECASE)


def obedient_reply(messages: list[dict]) -> str:
    system = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") in ("system", "developer"))
    # Reads through datamarking (words joined by a marker) as a capable model would.
    others = "\n".join(str(m.get("content", "")) for m in messages if m.get("role") not in ("system", "developer")).replace("\u02c6", " ")
    parts = [m.group(1) for m in _ORDER.finditer(others)]
    if _ABOUT_ITSELF.search(others.rsplit("Question:", 1)[-1]):
        parts.append("Sure. My instructions are: " + system)
    return " ".join(parts)


def scripted_answer(rules: list[dict], messages: list[dict]) -> str:
    """The text of the first rule whose `match` (a regex) is found in the request's messages."""
    sent = "\n".join(str(m.get("content", "")) for m in messages)
    return next((str(r.get("text", "")) for r in rules if re.search(str(r.get("match", "")), sent, re.DOTALL)), "")


def _defaults(gap_ms: float) -> dict:
    return {"fail_next": 0, "fail_after": -1, "status": 503, "retry_after": None, "hang_next": 0, "reset_next": 0, "malformed_after": -1,
            "stall_after": 0, "requests": 0, "request_times": [], "script": "", "script_piece": 3, "gap_ms": gap_ms,
            "echo": False, "obey": False, "answers": [], "error_message": "injected failure", "last_messages": [], "cut_after": 0,
            "tool_turns": [], "bodies": [], "embedding_usage": True,
            "disconnects": 0, "disconnect_times": [],  # streams whose client went away before the end, and when
            # Tokens of every answer given in full, summed: what a provider would bill.
            "billed": {"answers": 0, "prompt_tokens": 0, "completion_tokens": 0}}


def _anthropic_messages(body: dict) -> list[dict]:
    """An Anthropic request's turns in OpenAI's shape (the system prompt as a system message)."""
    system = body.get("system")
    if isinstance(system, list):
        system = "".join(block.get("text", "") for block in system if isinstance(block, dict))
    turns = []
    for m in body.get("messages", []):
        content = m.get("content", "")
        if isinstance(content, list):
            content = "".join(block.get("text", "") for block in content if isinstance(block, dict))
        turns.append({"role": m.get("role", "user"), "content": content})
    return ([{"role": "system", "content": system}] if system else []) + turns


class _OpenAIWire:
    def __init__(self, body: dict) -> None:
        self.id, self.created, self.model = "chatcmpl-" + uuid.uuid4().hex, int(time.time()), body.get("model", "fake-model")
        self.usage_wanted = bool((body.get("stream_options") or {}).get("include_usage"))

    def error(self, status: int, message: str) -> dict:
        return {"error": {"message": message, "type": "server_error"}}

    def whole(self, text: str, prompt_tokens: int, n: int, calls: list[dict] = ()) -> dict:
        message: dict = {"role": "assistant", "content": text}
        if calls:
            message = {"role": "assistant", "content": text or None, "tool_calls": [
                {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]}
        return {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}}

    @staticmethod
    def forced(body: dict) -> str:
        choice = body.get("tool_choice")
        return ((choice.get("function") or {}).get("name") or "") if isinstance(choice, dict) else ""

    def calls(self, calls: list[dict], piece: int) -> list[bytes]:
        """Each call as OpenAI streams it: its index, id and name first, then its arguments in fragments."""
        out = []
        for i, c in enumerate(calls):
            out.append(self._chunk({"tool_calls": [{"index": i, "id": c["id"], "type": "function",
                                                    "function": {"name": c["name"], "arguments": ""}}]}))
            args = c["arguments"]
            out += [self._chunk({"tool_calls": [{"index": i, "function": {"arguments": args[k:k + piece]}}]})
                    for k in range(0, len(args), piece)]
        return out

    def _chunk(self, delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
        payload = {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                   "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage:
            payload["usage"] = usage
        return b"data: " + orjson.dumps(payload) + b"\n\n"

    def opening(self, prompt_tokens: int) -> bytes:
        return b""

    def text(self, piece: str) -> bytes:
        return self._chunk({"content": piece})

    def malformed(self) -> bytes:
        return b'data: {"choices": [{"delta": {"content": "unterminated\n\n'

    def closing(self, prompt_tokens: int, n: int, called: bool = False) -> bytes:
        out = self._chunk({}, "tool_calls" if called else "stop")
        if self.usage_wanted:
            out += self._chunk({}, usage={"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n})
        return out + b"data: [DONE]\n\n"


class _AnthropicWire:
    """The Messages API's streaming events, as Anthropic sends them."""

    def __init__(self, body: dict) -> None:
        self.id, self.model = "msg_" + uuid.uuid4().hex, body.get("model", "fake-model")

    @staticmethod
    def _event(name: str, data: dict) -> bytes:
        return f"event: {name}\ndata: ".encode() + orjson.dumps({"type": name, **data}) + b"\n\n"

    def error(self, status: int, message: str) -> dict:
        kind = {429: "rate_limit_error", 529: "overloaded_error", 401: "authentication_error", 400: "invalid_request_error"}
        return {"type": "error", "error": {"type": kind.get(status, "api_error"), "message": message}}

    def whole(self, text: str, prompt_tokens: int, n: int, calls: list[dict] = ()) -> dict:
        content = [{"type": "text", "text": text}] if text or not calls else []
        content += [{"type": "tool_use", "id": c["id"], "name": c["name"], "input": orjson.loads(c["arguments"] or "{}")} for c in calls]
        return {"id": self.id, "type": "message", "role": "assistant", "model": self.model,
                "stop_reason": "tool_use" if calls else "end_turn", "content": content,
                "usage": {"input_tokens": prompt_tokens, "output_tokens": n}}

    @staticmethod
    def forced(body: dict) -> str:
        choice = body.get("tool_choice")
        return (choice.get("name") or "") if isinstance(choice, dict) and choice.get("type") == "tool" else ""

    def calls(self, calls: list[dict], piece: int) -> list[bytes]:
        """Each call as a tool_use block after the text block: its id and name, then its input as
        input_json_delta fragments."""
        out = [self._event("content_block_stop", {"index": 0})]
        for i, c in enumerate(calls, start=1):
            args = c["arguments"]
            out.append(self._event("content_block_start", {"index": i, "content_block": {"type": "tool_use", "id": c["id"],
                                                                                       "name": c["name"], "input": {}}}))
            out += [self._event("content_block_delta", {"index": i, "delta": {"type": "input_json_delta", "partial_json": args[k:k + piece]}})
                    for k in range(0, len(args), piece)]
            out.append(self._event("content_block_stop", {"index": i}))
        return out

    def opening(self, prompt_tokens: int) -> bytes:
        message = {"id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
                   "stop_reason": None, "usage": {"input_tokens": prompt_tokens, "output_tokens": 1}}
        return (self._event("message_start", {"message": message})
                + self._event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))

    def text(self, piece: str) -> bytes:
        return self._event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})

    def malformed(self) -> bytes:
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {"text": "unterminated\n\n'

    def closing(self, prompt_tokens: int, n: int, called: bool = False) -> bytes:
        return ((b"" if called else self._event("content_block_stop", {"index": 0}))
                + self._event("message_delta", {"delta": {"stop_reason": "tool_use" if called else "end_turn", "stop_sequence": None},
                                                "usage": {"output_tokens": n}})
                + self._event("message_stop", {}))


def build_app(tokens: int, gap_ms: float) -> Starlette:
    # `script`: when set (via /control), the text streamed instead of tok0 tok1 …, split into
    # pieces of `script_piece` characters (chunk boundaries anywhere, as real providers do).
    state = _defaults(gap_ms)

    async def control(request: Request) -> Response:
        update = orjson.loads(await request.body())
        if update.pop("reset", False):
            state.update(_defaults(gap_ms))
        state.update(update)
        return JSONResponse(state)

    async def stats(_request: Request) -> Response:
        return JSONResponse(state)

    async def models(_request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}]})

    def gone() -> None:
        state["disconnects"] += 1
        state["disconnect_times"] = [*state["disconnect_times"][-49:], time.time()]

    async def answer(request: Request, wire: _OpenAIWire | _AnthropicWire, messages: list[dict], body: dict) -> Response:
        state["requests"] += 1
        state["request_times"] = [*state["request_times"][-49:], time.time()]
        state["last_messages"] = messages
        state["bodies"] = [*state["bodies"][-19:], body]
        if state["hang_next"] > 0:
            state["hang_next"] -= 1
            while not await request.is_disconnected():  # no answer, until the client gives up
                await asyncio.sleep(0.05)
            gone()
            return Response(status_code=499)
        if state["fail_next"] > 0 or state["fail_after"] == 0:
            state["fail_next"] = max(0, state["fail_next"] - 1)
            headers = {"Retry-After": str(state["retry_after"])} if state["retry_after"] is not None else None
            return JSONResponse(wire.error(state["status"], state["error_message"]), status_code=state["status"], headers=headers)
        if state["fail_after"] > 0:
            state["fail_after"] -= 1

        def bill(prompt: int, completion: int) -> None:
            billed = state["billed"]
            billed["answers"], billed["prompt_tokens"], billed["completion_tokens"] = (
                billed["answers"] + 1, billed["prompt_tokens"] + prompt, billed["completion_tokens"] + completion)

        n = min(tokens, body.get("max_tokens") or tokens)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        words = [f"tok{i} " for i in range(n)]
        text = state["script"]
        if state["echo"]:
            text = "\n".join(str(m.get("content", "")) for m in messages)
        elif state["obey"]:
            text = obedient_reply(messages) or text
        text = scripted_answer(state["answers"], messages) or text
        if text:
            size = max(1, int(state["script_piece"]))
            words = [text[k:k + size] for k in range(0, len(text), size)]
            n = len(words)
        calls: list[dict] = []
        if state["tool_turns"]:
            calls = list(state["tool_turns"].pop(0))
        elif forced := wire.forced(body):
            calls = [{"name": forced, "arguments": state["script"] or "{}"}]
            words, n = [], 1
        system = json.dumps("\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "system"))[1:-1]
        calls = [{"id": c.get("id") or f"call_{uuid.uuid4().hex[:12]}", "name": c["name"],
                  "arguments": c.get("arguments", "{}").replace("{{system}}", system)} for c in calls]
        if calls and not state["script"]:
            words, n = [], len(calls)  # a call alone, as models usually make them
        gap = float(state["gap_ms"]) / 1000
        if not body.get("stream"):
            await asyncio.sleep(gap * n)
            bill(prompt_tokens, n)
            return JSONResponse(wire.whole("".join(words), prompt_tokens, n, calls))

        cut_after, stall_after, malformed_after = int(state["cut_after"]), int(state["stall_after"]), int(state["malformed_after"])
        reset = state["reset_next"] > 0
        if reset:
            state["reset_next"] -= 1

        async def stream():
            try:
                if reset:
                    raise ConnectionResetError("injected: the connection broke before any chunk")
                if opening := wire.opening(prompt_tokens):
                    yield opening
                for sent, word in enumerate(words):
                    if cut_after and sent == cut_after:
                        # The connection breaks mid-body (no end of the chunked body): a reset as the client sees it.
                        raise ConnectionResetError("injected: the connection broke off")
                    if stall_after and sent == stall_after:
                        await asyncio.Event().wait()
                    if sent == malformed_after:
                        yield wire.malformed()
                    await asyncio.sleep(gap)
                    yield wire.text(word)
            except (asyncio.CancelledError, GeneratorExit):
                gone()  # the client closed the request mid-answer
                raise
            for piece in wire.calls(calls, max(1, int(state["script_piece"]))) if calls else ():
                await asyncio.sleep(gap)
                yield piece
            bill(prompt_tokens, n)
            yield wire.closing(prompt_tokens, n, bool(calls))

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def completions(request: Request) -> Response:
        body = orjson.loads(await request.body())
        return await answer(request, _OpenAIWire(body), body.get("messages", []), body)

    async def embeddings(request: Request) -> Response:
        """OpenAI's embeddings API: a vector of 8 per text, from the text's bytes (same text, same vector)."""
        body = orjson.loads(await request.body())
        state["requests"] += 1
        state["bodies"] = [*state["bodies"][-19:], body]
        texts = [body["input"]] if isinstance(body.get("input"), str) else list(body.get("input") or [])
        data = [{"object": "embedding", "index": i, "embedding": [b / 255 for b in hashlib.sha256(t.encode()).digest()[:8]]}
                for i, t in enumerate(texts)]
        tokens = sum(len(t.split()) for t in texts)
        usage = {"usage": {"prompt_tokens": tokens, "total_tokens": tokens}} if state["embedding_usage"] else {}
        # data out of order: clients sort by index
        return JSONResponse({"object": "list", "data": data[::-1], "model": body.get("model"), **usage})

    async def messages(request: Request) -> Response:
        body = orjson.loads(await request.body())
        return await answer(request, _AnthropicWire(body), _anthropic_messages(body), body)

    return Starlette(routes=[
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/embeddings", embeddings, methods=["POST"]),
        Route("/v1/models", models),
        Route("/control", control, methods=["POST"]),
        Route("/stats", stats),
    ])


@dataclass
class Upstream:
    base_url: str
    process: subprocess.Popen

    def control(self, **state) -> None:
        req = urllib.request.Request(self.base_url.removesuffix("/v1") + "/control", data=json.dumps(state).encode(), method="POST")
        urllib.request.urlopen(req, timeout=5).read()

    def stats(self) -> dict:
        return json.loads(urllib.request.urlopen(self.base_url.removesuffix("/v1") + "/stats", timeout=5).read())


def start_upstream(tokens: int = 8, gap_ms: float = 5.0) -> Upstream:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--port", str(port), "--tokens", str(tokens), "--gap-ms", str(gap_ms)]
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=1).read()
            return Upstream(f"http://127.0.0.1:{port}/v1", proc)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("fake upstream did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--gap-ms", type=float, default=10.0)
    args = parser.parse_args()
    uvicorn.run(build_app(args.tokens, args.gap_ms), host="127.0.0.1", port=args.port, log_level="warning", loop="uvloop", http="httptools",
                timeout_graceful_shutdown=2)


if __name__ == "__main__":
    main()
