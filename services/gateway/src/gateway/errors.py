"""Every failure leaves the gateway in the one JSON error shape, never with a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatbot_common.errors import ERRORS, AppError, ErrorCode

log = logging.getLogger(__name__)


def _codes_by_http_status() -> dict[int, ErrorCode]:
    """An HTTP status raised by the framework (an unknown route, a bad multipart body...), read
    back as one of the error table's codes. Where several codes share a status, the first
    declared in `ErrorCode` is the one (400: VALIDATION_ERROR, not CONTENT_BLOCKED): the
    general one is declared before the particular ones."""
    codes: dict[int, ErrorCode] = {}
    for code in ErrorCode:
        codes.setdefault(ERRORS[code].http_status, code)
    return codes


_CODE_FOR_HTTP = _codes_by_http_status()

WWW_AUTHENTICATE = 'Bearer realm="api", error="invalid_token"'


def error_response(error: AppError) -> JSONResponse:
    headers = {}
    if error.code is ErrorCode.AUTHENTICATION_ERROR:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if error.code is ErrorCode.RATE_LIMIT_EXCEEDED and "retry_after" in error.details:
        headers["Retry-After"] = str(int(error.details["retry_after"]))
    return JSONResponse(error.to_body(), status_code=error.spec.http_status, headers=headers)


async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
    return error_response(exc)


def invalid_request(errors) -> AppError:
    """Pydantic's validation errors as the one error: where and why, never the offending input
    itself (it may be a password)."""
    problems = [
        {"field": ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body", "message": err.get("msg", "invalid")}
        for err in errors
    ]
    return AppError(ErrorCode.VALIDATION_ERROR, "request validation failed", {"errors": problems})


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    return error_response(invalid_request(exc.errors()))


def code_for_http_status(status: int) -> ErrorCode:
    """A status no code has (405, say) is the caller's mistake below 500, ours from 500 on."""
    return _CODE_FOR_HTTP.get(status, ErrorCode.VALIDATION_ERROR if status < 500 else ErrorCode.INTERNAL_ERROR)


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = code_for_http_status(exc.status_code)
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    response = JSONResponse(AppError(code, message).to_body(), status_code=exc.status_code, headers=getattr(exc, "headers", None))
    return response


async def _not_unicode(request: Request, exc: UnicodeEncodeError) -> JSONResponse:
    """The net under the check at the edge (gateway.unicode_input): text that is not valid
    Unicode, found only when it was encoded (for a gRPC request, a database row), is still the
    caller's bad input, never a 500. Any other encoding failure is a bug and stays one."""
    if exc.reason != "surrogates not allowed":
        return await _unexpected(request, exc)
    log.warning("lone surrogate reached an encoder", extra={"path": request.url.path})
    return error_response(AppError(ErrorCode.VALIDATION_ERROR, "the request holds text that is not valid Unicode (a lone surrogate)",
                                   {"errors": [{"field": "body", "message": "not valid Unicode: lone surrogate"}]}))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return error_response(AppError(ErrorCode.INTERNAL_ERROR, "internal error"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(UnicodeEncodeError, _not_unicode)
    app.add_exception_handler(Exception, _unexpected)
