"""What every provider is: a translator from our request to its API and back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from chatbot_common.errors import ProviderErrorKind


@dataclass(frozen=True)
class ToolSpec:
    """A function the model may call: its name, what it does, and its arguments' JSON schema
    (an object schema). Every provider translates this one form to its own API."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}}, hash=False, compare=False)


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for. `arguments` is the JSON text the model wrote, as written:
    it may be invalid, and whoever runs the tool validates it against the tool's schema first."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ResponseFormat:
    """The shape the answer must take: text (no constraint), json_object (any JSON object) or
    json_schema (valid against `schema`)."""

    type: str = "text"
    schema: dict[str, Any] | None = field(default=None, hash=False, compare=False)
    name: str = ""
    strict: bool = False


@dataclass(frozen=True)
class ChatMessage:
    role: str  # system | user | assistant | tool
    content: str
    # An assistant message that asked for tools (its content may be empty).
    tool_calls: tuple[ToolCall, ...] = ()
    # A tool message: the call it answers, and the tool's name.
    tool_call_id: str = ""
    name: str = ""


@dataclass(frozen=True)
class GenParams:
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Function calling: the tools offered and whether the model must, may or must not call one
    # ("auto" | "none" | "required" | a tool's name, which forces that tool).
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str = "auto"
    response_format: ResponseFormat | None = None


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0  # of prompt_tokens, read from the provider's prompt cache (priced apart)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Delta:
    text: str


# A provider streams Delta text, then (when the model asks for tools) one ToolCall per call,
# complete with its arguments, then exactly one End (finish_reason "tool_calls" after calls).


@dataclass(frozen=True)
class End:
    finish_reason: str
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    context_window: int


class ProviderError(Exception):
    def __init__(self, kind: ProviderErrorKind, message: str, *, retry_after: float | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message  # what callers may see
        self.retry_after = retry_after
        self.detail = detail  # the provider's own words, for the operator's log only (scrubbed there)

    @property
    def retryable(self) -> bool:
        return self.kind in (ProviderErrorKind.RATE_LIMITED, ProviderErrorKind.UNAVAILABLE, ProviderErrorKind.TIMEOUT)

    @property
    def counts_against_provider(self) -> bool:
        """Whether this failure says the provider is unhealthy (opens its circuit)."""
        return self.kind in (ProviderErrorKind.UNAVAILABLE, ProviderErrorKind.TIMEOUT, ProviderErrorKind.AUTHENTICATION)


class Provider(Protocol):
    name: str

    def models(self) -> list[ModelSpec]: ...

    def stream(self, model: str, messages: list[ChatMessage], params: GenParams) -> AsyncIterator[Delta | ToolCall | End]:
        """Yields deltas, then any tool calls, and exactly one End; raises ProviderError."""
        ...

    async def aclose(self) -> None: ...


class StopSequences:
    """Cuts a stream at the first stop sequence, holding back text that may be the start of one."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self._buffer = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        if not self._stops:
            return text
        self._buffer += text
        cut = min((i for i in (self._buffer.find(s) for s in self._stops) if i >= 0), default=-1)
        if cut >= 0:
            out, self._buffer, self.stopped = self._buffer[:cut], "", True
            return out
        if len(self._buffer) <= self._hold:
            return ""
        out = self._buffer[: len(self._buffer) - self._hold]
        self._buffer = self._buffer[len(out):]
        return out

    def flush(self) -> str:
        out, self._buffer = self._buffer, ""
        return out


def kind_for_http_status(status: int, body_text: str = "") -> ProviderErrorKind:
    """The taxonomy for an HTTP error from any provider API."""
    if status == 429:
        return ProviderErrorKind.RATE_LIMITED
    if status in (401, 403):
        return ProviderErrorKind.AUTHENTICATION
    if status in (408, 504):
        return ProviderErrorKind.TIMEOUT
    if "content_filter" in body_text or "content_policy" in body_text:
        return ProviderErrorKind.CONTENT_FILTER
    if 400 <= status < 500:
        return ProviderErrorKind.INVALID_REQUEST
    return ProviderErrorKind.UNAVAILABLE


def status_error(status: int, body_text: str, headers: object, detail: str) -> ProviderError:
    """An HTTP error answer from any provider API, as the one taxonomy."""
    return ProviderError(kind_for_http_status(status, body_text), f"the provider answered {status}",
                         retry_after=parse_retry_after(headers), detail=detail[:500])


def timed_out() -> ProviderError:
    return ProviderError(ProviderErrorKind.TIMEOUT, "the provider timed out")


def unreachable() -> ProviderError:
    return ProviderError(ProviderErrorKind.UNAVAILABLE, "the provider could not be reached")


def parse_retry_after(headers: object) -> float | None:
    value = getattr(headers, "get", lambda _k: None)("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Deadlines:
    """How long the router waits on a provider: for its first token, and between two."""

    first_token: float
    idle: float
