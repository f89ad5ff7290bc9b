"""Security headers on every response (JSON, errors, streams, the 413 the middleware writes
itself), HSTS only under TLS unless configured, and nothing the app set is overridden."""

import httpx
import pytest

from gateway.middleware import GatewayMiddleware


async def app(scope, receive, send):
    headers = [(b"content-type", b"application/json")]
    if scope["path"] == "/own-csp":
        headers.append((b"content-security-policy", b"default-src 'self'"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


def client(hsts="auto", base="http://test"):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=GatewayMiddleware(app, max_body_bytes=64, hsts=hsts)), base_url=base)


@pytest.mark.parametrize("path", ["/api/v1/health", "/v1/chat/completions", "/api/v1/docs"])
async def test_every_response_carries_the_security_headers(path):
    async with client() as c:
        reply = await c.get(path)
    assert reply.headers["x-content-type-options"] == "nosniff"
    assert reply.headers["x-frame-options"] == "DENY"
    assert reply.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
    assert "cdn.jsdelivr.net" not in reply.headers["content-security-policy"]  # the docs come from the gateway's own files
    assert "strict-transport-security" not in reply.headers  # plain HTTP
    assert reply.headers["x-request-id"]


async def test_hsts_under_tls_or_when_configured_and_never_when_off():
    async with client(base="https://test") as c:
        assert "max-age=" in (await c.get("/x")).headers["strict-transport-security"]
    async with client(hsts="always") as c:
        assert "strict-transport-security" in (await c.get("/x")).headers
    async with client(hsts="off", base="https://test") as c:
        assert "strict-transport-security" not in (await c.get("/x")).headers


async def test_app_headers_win_and_the_413_is_covered_too():
    async with client() as c:
        assert (await c.get("/own-csp")).headers["content-security-policy"] == "default-src 'self'"
        too_big = await c.post("/x", content=b"x" * 100)
    assert too_big.status_code == 413 and too_big.headers["x-frame-options"] == "DENY"
    assert too_big.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_metrics_label_each_route_by_its_full_template_under_included_routers():
    """One label per route: the prefixes of the routers it was included under, its parameters
    as declared (never the ids of a request), and "unmatched" for no route."""
    from fastapi import APIRouter, FastAPI

    from gateway.middleware import HTTP_REQUESTS

    inner = APIRouter(prefix="/things")

    @inner.get("/{thing_id}/parts/{n}")
    async def part(thing_id: str, n: int) -> dict:
        return {}

    api = APIRouter(prefix="/api/v1")
    api.include_router(inner)
    routed = FastAPI()
    routed.include_router(api)
    transport = httpx.ASGITransport(app=GatewayMiddleware(routed, max_body_bytes=1024, hsts="off"))

    def count(route: str, status: str) -> float:
        return HTTP_REQUESTS.labels("GET", route, status)._value.get()

    template = "/api/v1/things/{thing_id}/parts/{n}"
    before, before_unmatched = count(template, "200"), count("unmatched", "404")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        assert (await c.get("/api/v1/things/parts-of-things/parts/7")).status_code == 200
        assert (await c.get("/api/v1/nothing/here")).status_code == 404
    assert count(template, "200") == before + 1
    assert count("unmatched", "404") == before_unmatched + 1
