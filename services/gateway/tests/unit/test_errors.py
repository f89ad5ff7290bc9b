"""An HTTP status the framework raises is answered in the one error shape with the code the one
error table gives that status (chatbot_common.errors.ERRORS), not from a second table."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from starlette.exceptions import HTTPException

from chatbot_common.errors import ERRORS, ErrorCode
from gateway.errors import code_for_http_status, install_error_handlers


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/raise/{status}")
    async def raise_status(status: int) -> dict:
        # What Starlette (or any middleware or route) does to refuse a request with a bare status.
        raise HTTPException(status, "refused by the framework")

    return app


async def _ask(method: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://test") as client:
        return await client.request(method, path)


async def test_a_415_raised_by_starlette_is_unsupported_media_type():
    reply = await _ask("POST", "/raise/415")
    assert reply.status_code == 415
    assert reply.json() == {"error": {"code": "UNSUPPORTED_MEDIA_TYPE", "message": "refused by the framework", "details": {}}}


async def test_statuses_starlette_itself_produces():
    missing, wrong_method = await _ask("GET", "/nowhere"), await _ask("GET", "/raise/400")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "NOT_FOUND")
    # No code has 405: below 500 it is the caller's mistake.
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (405, "VALIDATION_ERROR")


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_code_reads_back_from_its_status_to_a_code_of_that_status(code):
    status = ERRORS[code].http_status
    assert ERRORS[code_for_http_status(status)].http_status == status


def test_where_codes_share_a_status_the_first_declared_wins():
    assert code_for_http_status(400) is ErrorCode.VALIDATION_ERROR  # not CONTENT_BLOCKED
    assert code_for_http_status(418) is ErrorCode.VALIDATION_ERROR
    assert code_for_http_status(599) is ErrorCode.INTERNAL_ERROR
