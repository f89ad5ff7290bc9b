"""The refresh cookie's name and scope: `__Host-` prefixed (Secure, Path=/) under TLS, so no
sibling subdomain can plant one the browser would send beside it; scoped to the auth routes over
plain HTTP on loopback (where the prefix is not allowed)."""

import pytest
from fastapi import Response
from starlette.requests import Request

from gateway.api import session_cookie


def request(scheme: str) -> Request:
    return Request({"type": "http", "method": "POST", "scheme": scheme, "path": "/api/v1/auth/refresh", "headers": [],
                    "server": ("gateway.example", 443 if scheme == "https" else 80)})


@pytest.mark.parametrize(("scheme", "hsts", "name", "attributes"), [
    ("https", "auto", "__Host-chatbot_refresh", ["path=/;", "secure"]),
    ("http", "always", "__Host-chatbot_refresh", ["path=/;", "secure"]),  # TLS ends at a proxy in front
    ("http", "auto", "chatbot_refresh", ["path=/api/v1/auth"]),
])
def test_the_cookie_for_each_transport(scheme, hsts, name, attributes):
    response = Response()
    session_cookie.set_refresh(response, request(scheme), "token", 60, hsts)
    header = response.headers["set-cookie"]
    assert header.startswith(f"{name}=token;")
    lowered = header.lower() + ";"
    assert all(a in lowered for a in attributes) and "httponly" in lowered and "samesite=strict" in lowered
    assert "domain=" not in lowered
    assert ("secure" in lowered) == (name.startswith("__Host-"))
