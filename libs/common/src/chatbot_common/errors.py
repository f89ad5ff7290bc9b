"""One error taxonomy for the fleet: domain error code -> gRPC status -> HTTP status.

Services raise `AppError`; servicers turn it into a gRPC status carrying the code in
trailing metadata; the gateway turns a gRPC error back into the same `AppError` and answers
with the one JSON error shape. Every mapping lives in `ERRORS` below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import grpc
import orjson


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    AUTHENTICATION_ERROR = "AUTHENTICATION_ERROR"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    CONTENT_FILTERED = "CONTENT_FILTERED"
    CONTENT_BLOCKED = "CONTENT_BLOCKED"
    LLM_PROVIDER_ERROR = "LLM_PROVIDER_ERROR"
    LLM_TIMEOUT = "LLM_TIMEOUT"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


@dataclass(frozen=True)
class ErrorSpec:
    grpc_status: grpc.StatusCode
    http_status: int
    retryable: bool


ERRORS: dict[ErrorCode, ErrorSpec] = {
    ErrorCode.VALIDATION_ERROR: ErrorSpec(grpc.StatusCode.INVALID_ARGUMENT, 400, False),
    ErrorCode.AUTHENTICATION_ERROR: ErrorSpec(grpc.StatusCode.UNAUTHENTICATED, 401, False),
    ErrorCode.PERMISSION_DENIED: ErrorSpec(grpc.StatusCode.PERMISSION_DENIED, 403, False),
    ErrorCode.NOT_FOUND: ErrorSpec(grpc.StatusCode.NOT_FOUND, 404, False),
    ErrorCode.CONFLICT: ErrorSpec(grpc.StatusCode.ALREADY_EXISTS, 409, False),
    ErrorCode.PAYLOAD_TOO_LARGE: ErrorSpec(grpc.StatusCode.INVALID_ARGUMENT, 413, False),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: ErrorSpec(grpc.StatusCode.INVALID_ARGUMENT, 415, False),
    ErrorCode.RATE_LIMIT_EXCEEDED: ErrorSpec(grpc.StatusCode.RESOURCE_EXHAUSTED, 429, True),
    ErrorCode.CONTENT_FILTERED: ErrorSpec(grpc.StatusCode.FAILED_PRECONDITION, 422, False),
    ErrorCode.CONTENT_BLOCKED: ErrorSpec(grpc.StatusCode.INVALID_ARGUMENT, 400, False),
    ErrorCode.LLM_PROVIDER_ERROR: ErrorSpec(grpc.StatusCode.ABORTED, 502, False),
    ErrorCode.LLM_TIMEOUT: ErrorSpec(grpc.StatusCode.DEADLINE_EXCEEDED, 504, True),
    ErrorCode.SERVICE_UNAVAILABLE: ErrorSpec(grpc.StatusCode.UNAVAILABLE, 503, True),
    ErrorCode.INTERNAL_ERROR: ErrorSpec(grpc.StatusCode.INTERNAL, 500, False),
}

# When a peer answered without our metadata (a crash, a proxy, a deadline set by grpc itself).
_CODE_FOR_GRPC_STATUS: dict[grpc.StatusCode, ErrorCode] = {
    grpc.StatusCode.INVALID_ARGUMENT: ErrorCode.VALIDATION_ERROR,
    grpc.StatusCode.OUT_OF_RANGE: ErrorCode.VALIDATION_ERROR,
    grpc.StatusCode.UNAUTHENTICATED: ErrorCode.AUTHENTICATION_ERROR,
    grpc.StatusCode.PERMISSION_DENIED: ErrorCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND: ErrorCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: ErrorCode.CONFLICT,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ErrorCode.RATE_LIMIT_EXCEEDED,
    grpc.StatusCode.DEADLINE_EXCEEDED: ErrorCode.LLM_TIMEOUT,
    grpc.StatusCode.UNAVAILABLE: ErrorCode.SERVICE_UNAVAILABLE,
    grpc.StatusCode.CANCELLED: ErrorCode.SERVICE_UNAVAILABLE,
    grpc.StatusCode.UNIMPLEMENTED: ErrorCode.SERVICE_UNAVAILABLE,
}


class ProviderErrorKind(StrEnum):
    """What went wrong at an LLM provider, whichever provider it was."""

    RATE_LIMITED = "rate_limited"
    AUTHENTICATION = "authentication"
    INVALID_REQUEST = "invalid_request"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    CONTENT_FILTER = "content_filter"


PROVIDER_ERRORS: dict[ProviderErrorKind, ErrorCode] = {
    ProviderErrorKind.RATE_LIMITED: ErrorCode.RATE_LIMIT_EXCEEDED,
    # The platform's own key is wrong: the caller did nothing wrong, so not a 401.
    ProviderErrorKind.AUTHENTICATION: ErrorCode.LLM_PROVIDER_ERROR,
    ProviderErrorKind.INVALID_REQUEST: ErrorCode.VALIDATION_ERROR,
    ProviderErrorKind.UNAVAILABLE: ErrorCode.SERVICE_UNAVAILABLE,
    ProviderErrorKind.TIMEOUT: ErrorCode.LLM_TIMEOUT,
    ProviderErrorKind.CONTENT_FILTER: ErrorCode.CONTENT_FILTERED,
}

METADATA_CODE = "x-error-code"
METADATA_DETAILS = "x-error-details"


@dataclass
class AppError(Exception):
    code: ErrorCode
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def spec(self) -> ErrorSpec:
        return ERRORS[self.code]

    @property
    def retryable(self) -> bool:
        return self.spec.retryable

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code.value, "message": self.message, "details": self.details}}


def not_found(what: str) -> AppError:
    return AppError(ErrorCode.NOT_FOUND, f"{what} not found")


def invalid(message: str, **details: Any) -> AppError:
    return AppError(ErrorCode.VALIDATION_ERROR, message, details)


def grpc_trailers(error: AppError) -> tuple[tuple[str, str], ...]:
    return ((METADATA_CODE, error.code.value), (METADATA_DETAILS, orjson.dumps(error.details).decode()))


async def abort(context: Any, error: AppError) -> None:
    """Ends an RPC with the status and metadata that carry `error` to the caller."""
    context.set_trailing_metadata(grpc_trailers(error))
    await context.abort(error.spec.grpc_status, error.message)


def from_rpc_error(exc: grpc.RpcError, peer: str = "upstream") -> AppError:
    """Reads an AppError back out of a failed call, whichever service raised it."""
    code_fn = getattr(exc, "code", None)
    status = code_fn() if callable(code_fn) else grpc.StatusCode.UNKNOWN
    trailing: dict[str, str] = {}
    trailing_fn = getattr(exc, "trailing_metadata", None)
    if callable(trailing_fn):
        for key, value in trailing_fn() or ():
            trailing[key] = value if isinstance(value, str) else value.decode()
    details_fn = getattr(exc, "details", None)
    message = (details_fn() if callable(details_fn) else None) or f"{peer} failed"
    if METADATA_CODE in trailing:
        try:
            code = ErrorCode(trailing[METADATA_CODE])
        except ValueError:
            code = ErrorCode.INTERNAL_ERROR
        try:
            details = orjson.loads(trailing.get(METADATA_DETAILS, "{}"))
        except orjson.JSONDecodeError:
            details = {}
        return AppError(code, message, details if isinstance(details, dict) else {})
    code = _CODE_FOR_GRPC_STATUS.get(status, ErrorCode.INTERNAL_ERROR)
    if code is ErrorCode.SERVICE_UNAVAILABLE:
        message = f"{peer} is unavailable"
    elif code is ErrorCode.LLM_TIMEOUT:
        message = f"{peer} did not answer in time"
    elif code is ErrorCode.INTERNAL_ERROR:
        # Never pass an unexpected peer message (it may hold internals) to a client.
        message = "internal error"
    return AppError(code, message, {"peer": peer})
