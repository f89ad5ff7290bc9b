"""The web app and the API docs as the gateway serves them: the SPA fallback never shadows the
API prefixes, hashed assets are immutable, index.html is revalidated, the CSP names only 'self',
and without a build the API still answers while `/` says how to build."""

from __future__ import annotations

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import GatewaySettings
from gateway.webapp import WebApp


@pytest.fixture
def dist(tmp_path):
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "swagger").mkdir()
    (root / "index.html").write_text('<!doctype html><script type="module" src="/assets/index-abc123.js"></script>')
    (root / "assets" / "index-abc123.js").write_text("console.log('app')")
    (root / "favicon.svg").write_text("<svg/>")
    (root / "swagger" / "swagger-ui-bundle.js").write_text("/* swagger */")
    (tmp_path / "secret.txt").write_text("not served")
    return root


def client(tmp_path, web_dir) -> httpx.AsyncClient:
    settings = GatewaySettings(var_dir=tmp_path / "var", web_dir=web_dir)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://test")


@pytest.mark.parametrize("path", ["/", "/c/conv_0123", "/some/client/route"])
async def test_client_routes_get_the_app_with_a_strict_csp_and_no_cache(tmp_path, dist, path):
    async with client(tmp_path, dist) as c:
        reply = await c.get(path)
        assert reply.status_code == 200
        assert "index-abc123.js" in reply.text
        assert reply.headers["cache-control"] == "no-cache"
        csp = reply.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "http" not in csp
        again = await c.get(path, headers={"if-none-match": reply.headers["etag"]})
        assert again.status_code == 304


async def test_hashed_assets_are_immutable_and_root_files_revalidated(tmp_path, dist):
    async with client(tmp_path, dist) as c:
        asset = await c.get("/assets/index-abc123.js")
        assert asset.status_code == 200 and "immutable" in asset.headers["cache-control"]
        assert "max-age=31536000" in asset.headers["cache-control"]
        missing = await c.get("/assets/gone-000.js")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"
        icon = await c.get("/favicon.svg")
        assert icon.text == "<svg/>" and icon.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api", "/v1/nope", "/ws/chat", "/.well-known/nope"])
async def test_api_prefixes_keep_their_json_404(tmp_path, dist, path):
    async with client(tmp_path, dist) as c:
        reply = await c.get(path)
    assert reply.status_code == 404
    assert set(reply.json()["error"]) == {"code", "message", "details"}


async def test_other_methods_are_not_the_app(tmp_path, dist):
    async with client(tmp_path, dist) as c:
        reply = await c.post("/c/conv_0123", json={})
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "NOT_FOUND"


def test_nothing_outside_the_build_is_served(dist):
    web = WebApp(dist)
    assert web.root_file("../secret.txt") is None
    assert web.root_file("swagger/../../secret.txt") is None
    assert web.root_file("index.html") is None  # only through index(), with its CSP
    assert web.root_file("favicon.svg") == (dist / "favicon.svg").resolve()


async def test_api_docs_come_from_local_files_without_inline_script(tmp_path, dist):
    async with client(tmp_path, dist) as c:
        reply = await c.get("/api/v1/docs")
    assert reply.status_code == 200
    assert "/swagger/swagger-ui-bundle.js" in reply.text and "/swagger/init.js" in reply.text
    assert "<script>" not in reply.text and "cdn" not in reply.text
    csp = reply.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "http" not in csp


async def test_without_a_build_the_api_works_and_the_root_says_how_to_build(tmp_path):
    async with client(tmp_path, tmp_path / "no-such-dist") as c:
        root = await c.get("/")
        assert root.status_code == 503 and "make web" in root.text
        assert (await c.get("/api/v1/docs")).status_code == 503
        assert (await c.get("/api/v1/openapi.json")).status_code == 200
        assert (await c.get("/api/v1/nope")).status_code == 404


async def test_hidden_files_source_maps_and_missing_files_are_not_served(tmp_path, dist):
    (dist / ".env").write_text("SECRET=1")
    (dist / "swagger" / ".env").write_text("SECRET=2")
    (dist / "app.js.map").write_text("{}")
    async with client(tmp_path, dist) as c:
        for path in ("/.env", "/swagger/.env", "/app.js.map", "/favicon.ico", "/robots.txt", "/sw.js"):
            reply = await c.get(path)
            assert reply.status_code == 404 and reply.json()["error"]["code"] == "NOT_FOUND", path
            assert "SECRET" not in reply.text


async def test_api_answers_are_not_stored_by_caches(tmp_path, dist):
    async with client(tmp_path, dist) as c:
        reply = await c.get("/api/v1/health")
        assert reply.headers["cache-control"] == "no-store"
        assert (await c.get("/")).headers["cache-control"] == "no-cache"  # pages keep their own


async def test_assets_are_sent_gzipped_to_browsers_that_accept_it(tmp_path, dist):
    import gzip

    script = "console.log('app');\n" * 200
    (dist / "assets" / "index-abc123.js").write_text(script)
    async with client(tmp_path, dist) as c:
        packed = await c.get("/assets/index-abc123.js", headers={"Accept-Encoding": "gzip"})
        assert packed.status_code == 200 and packed.headers["content-encoding"] == "gzip"
        assert packed.text == script  # httpx decodes it: the same file
        assert int(packed.headers["content-length"]) < len(gzip.compress(script.encode())) + 64 < len(script)
        assert packed.headers["content-type"].startswith(("text/javascript", "application/javascript"))
        assert "immutable" in packed.headers["cache-control"] and packed.headers["vary"] == "Accept-Encoding"
        plain = await c.get("/assets/index-abc123.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.text == script
