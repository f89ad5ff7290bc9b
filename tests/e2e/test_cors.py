"""CORS origins come from configuration: an allowed origin gets the headers (preflight and
request), any other origin gets none."""

from __future__ import annotations

import httpx
import pytest

from e2e_support import start_gateways

pytestmark = pytest.mark.e2e
ALLOWED = "https://chat.example.com"


def test_cors_allows_only_configured_origins(tmp_path):
    procs, (url,) = start_gateways(tmp_path, {"GATEWAY_CORS_ORIGINS": f'["{ALLOWED}"]'})
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
            ok = http.options("/api/v1/chat", headers={"Origin": ALLOWED, **preflight})
            assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ALLOWED
            assert "authorization" in ok.headers["access-control-allow-headers"].lower()
            refused = http.options("/api/v1/chat", headers={"Origin": "https://evil.example", **preflight})
            assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
            simple = http.get("/api/v1/health", headers={"Origin": ALLOWED})
            assert simple.headers["access-control-allow-origin"] == ALLOWED
            assert "access-control-allow-origin" not in http.get("/api/v1/health", headers={"Origin": "https://evil.example"}).headers
    finally:
        procs[0].terminate()
        procs[0].wait(15)
