"""An OpenAI-compatible upstream for tests and benchmarks: streams `--tokens` chunks
`--gap-ms` apart. It stands in only for paid external providers, and is always reached
over real HTTP.

    python tools/fake_openai_upstream.py --port 9100 --tokens 20 --gap-ms 10
    POST /control {"fail_next": 2, "status": 503}   # the next 2 requests answer 503 (with "error_message")
    POST /control {"script": "text", "script_piece": 3}  # stream this text in 3-character pieces
    POST /control {"gap_ms": 200}                   # from now on, this long between chunks
    POST /control {"cut_after": 4}                  # break the connection after 4 text chunks (0: never)
    POST /control {"echo": true}                    # a model that leaks: stream back the whole prompt
    POST /control {"obey": true}                    # a model that obeys every injection (below)
    GET /stats                                      # the state, and "last_messages": what the last request sent

An obedient model does what any text it was sent asks: a quoted phrase it is told to say, print,
reply or respond with comes first in its answer, and a question about its instructions, prompt,
rules or what it was told is answered by quoting every system message whole.

`start_upstream()` runs it as a process on a free port for tests and benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
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


def build_app(tokens: int, gap_ms: float) -> Starlette:
    # `script`: when set (via /control), the text streamed instead of tok0 tok1 …, split into
    # pieces of `script_piece` characters (chunk boundaries anywhere, as real providers do).
    state = {"fail_next": 0, "status": 503, "requests": 0, "script": "", "script_piece": 3, "gap_ms": gap_ms, "echo": False,
             "obey": False, "error_message": "injected failure", "last_messages": [], "cut_after": 0,
             "disconnects": 0}  # streams whose client went away before the end

    async def control(request: Request) -> Response:
        state.update(orjson.loads(await request.body()))
        return JSONResponse(state)

    async def stats(_request: Request) -> Response:
        return JSONResponse(state)

    async def models(_request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": "fake"}]})

    async def completions(request: Request) -> Response:
        state["requests"] += 1
        body = orjson.loads(await request.body())
        state["last_messages"] = body.get("messages", [])
        if state["fail_next"] > 0:
            state["fail_next"] -= 1
            return JSONResponse({"error": {"message": state["error_message"], "type": "server_error"}}, status_code=state["status"])
        n = min(tokens, body.get("max_tokens") or tokens)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        cid = "chatcmpl-" + uuid.uuid4().hex
        created = int(time.time())
        model = body.get("model", "fake-model")
        words = [f"tok{i} " for i in range(n)]
        text = state["script"]
        if state["echo"]:
            text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        elif state["obey"]:
            text = obedient_reply(body.get("messages", [])) or text
        if text:
            size = max(1, int(state["script_piece"]))
            words = [text[k:k + size] for k in range(0, len(text), size)]
            n = len(words)
        gap = float(state["gap_ms"]) / 1000
        if not body.get("stream"):
            await asyncio.sleep(gap * n)
            return JSONResponse({
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(words)}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n},
            })

        def chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
            payload = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
            if usage:
                payload["usage"] = usage
            return b"data: " + orjson.dumps(payload) + b"\n\n"

        cut_after = int(state["cut_after"])

        async def stream():
            try:
                for sent, word in enumerate(words):
                    if cut_after and sent == cut_after:
                        # The connection breaks mid-body (no end of the chunked body): a reset as the client sees it.
                        raise ConnectionResetError("injected: the connection broke off")
                    await asyncio.sleep(gap)
                    yield chunk({"content": word})
            except (asyncio.CancelledError, GeneratorExit):
                state["disconnects"] += 1  # the client closed the request mid-answer
                raise
            yield chunk({}, "stop")
            if (body.get("stream_options") or {}).get("include_usage"):
                yield chunk({}, usage={"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n})
            yield b"data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[
        Route("/v1/chat/completions", completions, methods=["POST"]),
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
    uvicorn.run(build_app(args.tokens, args.gap_ms), host="127.0.0.1", port=args.port, log_level="warning", loop="uvloop", http="httptools")


if __name__ == "__main__":
    main()
