"""WS /ws/chat: chat over one WebSocket, for clients that keep a connection open. The same
answers and events as the SSE routes (an answer goes on when the socket closes, and is followed
again on any socket or stream), in JSON text frames:

client -> server (`ref`, optional, is echoed in the reply it causes):
  {"type": "auth", "token": "<access token or API key>"}   first, within 10 s; again to renew
  {"type": "chat", "ref", ...the fields of POST /api/v1/chat/stream}
  {"type": "resume", "ref", "message_id", "last_event_id"}
  {"type": "stop", "ref", "message_id"}
  {"type": "ping", "ref"}
server -> client:
  {"type": "ready", "user_id"}
  {"type": "event", "message_id", "id", "event", "data"}   the SSE events: start, model, citations, tool_call, tool_result, approval_required, token, complete, stopped, error
  {"type": "stopping", "ref", "message_id"} · {"type": "pong", "ref"}
  {"type": "error", "ref", "error": {"code", "message", "details"}}

The token travels in the first frame, never in the URL (URLs end up in logs). A browser's
Origin must be this gateway's own or one of GATEWAY_CORS_ORIGINS. Each frame that acts is
authenticated again with the socket's token, so an expired token, a revoked key or a disabled
account stops working on an open socket too, and counts against the request rate limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from pydantic import ValidationError

from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.ids import is_valid_id
from gateway.answers.relay import Relays
from gateway.chat_turns import start_answer
from gateway.api.deps import authenticate, require
from gateway.api.schemas.chat import ChatIn
from gateway.errors import invalid_request
from gateway.identity import roles
from gateway.security import Principal

router = APIRouter(tags=["chat"])
log = logging.getLogger(__name__)

AUTH_SECONDS = 10.0
_REF_CHARS = 64


def _origin_allowed(ws: WebSocket, allowed: list[str]) -> bool:
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser: no ambient credentials ride on the socket, the token comes in a frame
    return origin in allowed or urlsplit(origin).netloc == ws.headers.get("host")


def _ref(frame: dict[str, Any]) -> str:
    ref = frame.get("ref", "")
    return ref if isinstance(ref, str) and len(ref) <= _REF_CHARS else ""


def _event_frame(message_id: str, number: int, sse: bytes) -> str:
    """An SSE-encoded event (`event: <name>\\ndata: <json>\\n\\n`) as a frame, its JSON untouched."""
    head, _, data = sse.partition(b"\ndata: ")
    return ('{"type":"event","message_id":"%s","id":%d,"event":"%s","data":' % (message_id, number, head[7:].decode())
            + data.rstrip(b"\n").decode() + "}")


class _ChatSocket:
    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.app = ws.app
        self.relays: Relays = ws.app.state.relays
        self.token = ""
        self._send_lock = asyncio.Lock()
        self._following: dict[str, asyncio.Task] = {}

    async def send(self, frame: dict[str, Any] | str) -> None:
        async with self._send_lock:
            await self.ws.send_text(frame if isinstance(frame, str) else orjson.dumps(frame).decode())

    async def error(self, error: AppError, ref: str = "") -> None:
        await self.send({"type": "error", "ref": ref, **error.to_body()})

    async def receive(self) -> dict[str, Any]:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:
            raise AppError(ErrorCode.VALIDATION_ERROR, "frames are text (JSON), not binary")
        if len(text) > self.app.state.settings.max_body_bytes:
            raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, "frame is too large", {"limit": self.app.state.settings.max_body_bytes})
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise AppError(ErrorCode.VALIDATION_ERROR, "a frame is one JSON object") from None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise AppError(ErrorCode.VALIDATION_ERROR, 'a frame is a JSON object with a "type"')
        ref = frame.get("ref", "")
        if not isinstance(ref, str) or len(ref) > _REF_CHARS:
            raise AppError(ErrorCode.VALIDATION_ERROR, f"ref: a string of at most {_REF_CHARS} characters", {"field": "ref"})
        return frame

    async def caller(self, token: str | None = None) -> Principal:
        return require(await authenticate(self.ws, token or self.token), roles.CHAT)

    async def sign_in(self, frame: dict[str, Any]) -> Principal:
        token = frame.get("token")
        if frame["type"] != "auth" or not isinstance(token, str) or not token:
            raise AppError(ErrorCode.AUTHENTICATION_ERROR, 'the first frame is {"type": "auth", "token": ...}')
        principal = await self.caller(token)
        self.token = token  # only a token that worked replaces the socket's
        await self.send({"type": "ready", "ref": frame.get("ref", ""), "user_id": principal.user_id})
        return principal

    def follow(self, message_id: str, after: int) -> None:
        previous = self._following.pop(message_id, None)
        if previous is not None:
            previous.cancel()
        self._following[message_id] = task = asyncio.create_task(self._follow(message_id, after))
        task.add_done_callback(lambda t: self._following.pop(message_id, None) if self._following.get(message_id) is t else None)

    async def _follow(self, message_id: str, after: int) -> None:
        try:
            async for batch in self.relays.buffers.follow(message_id, after, self.app.state.settings.heartbeat_seconds):
                for number, sse in batch:
                    await self.send(_event_frame(message_id, number, sse))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the buffer cannot be read: say so; the client may resume later
            error = exc if isinstance(exc, AppError) else AppError(ErrorCode.INTERNAL_ERROR, "internal error")
            if not isinstance(exc, AppError):
                log.exception("following an answer over a socket failed", extra={"message_id": message_id})
            with contextlib.suppress(Exception):  # the socket may be gone
                await self.send({"type": "error", "ref": "", "message_id": message_id, **error.to_body()})

    async def handle(self, frame: dict[str, Any]) -> None:
        kind, ref = frame["type"], frame.get("ref", "")
        if kind == "ping":
            await self.send({"type": "pong", "ref": ref})
            return
        if kind == "auth":
            await self.sign_in(frame)
            return
        principal = await self.caller()
        if kind == "chat":
            try:
                body = ChatIn.model_validate({k: v for k, v in frame.items() if k not in ("type", "ref")})
            except ValidationError as exc:
                raise invalid_request(exc.errors()) from None
            started = await start_answer(body, self.ws, principal, self.app.state.settings, self.app.state.downstream,
                                         self.app.state.limits, self.relays)
            self.follow(started.assistant_message_id, 0)
            return
        message_id = frame.get("message_id")
        if kind not in ("resume", "stop"):
            raise AppError(ErrorCode.VALIDATION_ERROR, f"unknown frame type {kind[:40]!r}: auth, chat, resume, stop or ping")
        if not isinstance(message_id, str) or not is_valid_id(message_id, "msg"):
            raise AppError(ErrorCode.VALIDATION_ERROR, "message_id: the answer's message id", {"field": "message_id"})
        await self.relays.require_owner(message_id, principal.user_id)
        if kind == "stop":
            if not await self.relays.stop(message_id):
                raise AppError(ErrorCode.CONFLICT, "the answer has already ended")
            await self.send({"type": "stopping", "ref": ref, "message_id": message_id})
            return
        after = frame.get("last_event_id", 0)
        if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after < 10**9:
            raise AppError(ErrorCode.VALIDATION_ERROR, "last_event_id: the id of the last event received (0: from the start)",
                           {"field": "last_event_id"})
        self.follow(message_id, after)

    async def close(self) -> None:
        """The socket is gone: stop following (the answers themselves go on)."""
        tasks = list(self._following.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@router.websocket("/ws/chat")
async def chat_socket(ws: WebSocket) -> None:
    if not _origin_allowed(ws, ws.app.state.settings.cors_origins):
        await ws.close(code=status.WS_1008_POLICY_VIOLATION)  # before the handshake completes: HTTP 403
        return
    # One request id for the socket's life: its turns and audit entries carry it.
    ws.state.request_id = ws.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
    await ws.accept()
    socket = _ChatSocket(ws)
    try:
        try:
            async with asyncio.timeout(AUTH_SECONDS):
                await socket.sign_in(await socket.receive())
        except (AppError, TimeoutError) as exc:
            error = exc if isinstance(exc, AppError) else AppError(ErrorCode.AUTHENTICATION_ERROR, "no auth frame in time")
            with contextlib.suppress(Exception):
                await socket.error(error)
                await ws.close(code=status.WS_1008_POLICY_VIOLATION)
            return
        while True:
            frame: dict[str, Any] = {}
            try:
                frame = await socket.receive()
                await socket.handle(frame)
            except AppError as error:
                await socket.error(error, _ref(frame))
            except WebSocketDisconnect:
                raise
            except Exception:  # noqa: BLE001 - one frame's failure is that frame's error, not the socket's end
                log.exception("a WebSocket frame failed", extra={"frame_type": str(frame.get("type", ""))[:40]})
                await socket.error(AppError(ErrorCode.INTERNAL_ERROR, "internal error"), _ref(frame))
    except WebSocketDisconnect:
        pass
    finally:
        await socket.close()
