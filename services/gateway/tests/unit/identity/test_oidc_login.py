"""Browser sign-in through the external issuer: its settings are checked at start (a gateway
with a half-configured client does not start), and only a path of this app is a way back."""

import pytest

from gateway.identity.oidc_login import safe_return_path
from gateway.settings import GatewaySettings

ISSUER = {"GATEWAY_OIDC_ISSUER": "https://idp.example.com", "GATEWAY_OIDC_JWKS_URL": "https://idp.example.com/jwks",
          "GATEWAY_OIDC_AUDIENCE": "chatbot-api", "GATEWAY_OIDC_CLIENT_ID": "chatbot-web",
          "GATEWAY_OIDC_REDIRECT_URI": "https://chat.example.com/api/v1/auth/oidc/callback"}


def test_a_complete_client_turns_browser_sign_in_on_and_keeps_its_secret_secret(monkeypatch):
    for name, value in {**ISSUER, "GATEWAY_OIDC_CLIENT_SECRET": "s3cret", "GATEWAY_OIDC_SCOPES": '["openid", "email", "groups"]'}.items():
        monkeypatch.setenv(name, value)
    settings = GatewaySettings()
    assert settings.oidc_sign_in_enabled() and settings.oidc_scopes == ["openid", "email", "groups"]
    assert settings.oidc_client_secret.get_secret_value() == "s3cret" and "s3cret" not in repr(settings)
    assert not GatewaySettings(oidc_client_id="").oidc_sign_in_enabled()


@pytest.mark.parametrize(("changes", "message"), [
    ({"GATEWAY_OIDC_ISSUER": ""}, "GATEWAY_OIDC_CLIENT_ID needs GATEWAY_OIDC_ISSUER (with its JWKS URL and audience)"),
    ({"GATEWAY_OIDC_REDIRECT_URI": ""}, "GATEWAY_OIDC_REDIRECT_URI must be an absolute http(s) URL without query or fragment"),
    ({"GATEWAY_OIDC_REDIRECT_URI": "/api/v1/auth/oidc/callback"},
     "GATEWAY_OIDC_REDIRECT_URI must be an absolute http(s) URL without query or fragment"),
    ({"GATEWAY_OIDC_REDIRECT_URI": "http://chat.example.com/api/v1/auth/oidc/callback"},
     "GATEWAY_OIDC_REDIRECT_URI must use https (plain http only on a loopback address)"),
    ({"GATEWAY_OIDC_REDIRECT_URI": "https://chat.example.com/callback"},
     "GATEWAY_OIDC_REDIRECT_URI must end with /api/v1/auth/oidc/callback (this gateway's callback)"),
    ({"GATEWAY_OIDC_SCOPES": '["email"]'}, "GATEWAY_OIDC_SCOPES must include openid"),
    ({"GATEWAY_OIDC_SCOPES": '["openid", "a b"]'}, "GATEWAY_OIDC_SCOPES: each scope is one word"),
    ({"GATEWAY_OIDC_DISCOVERY_URL": "file:///etc/passwd"}, "GATEWAY_OIDC_DISCOVERY_URL must be an http(s) URL"),
])
def test_a_half_configured_client_stops_the_gateway_at_start(monkeypatch, refused_configuration, changes, message):
    for name, value in {**ISSUER, **changes}.items():
        monkeypatch.setenv(name, value)
    assert refused_configuration(GatewaySettings) == [f"invalid configuration: {message}"]


def test_plain_http_is_for_loopback_only():
    settings = GatewaySettings(oidc_issuer="http://127.0.0.1:9000", oidc_jwks_url="http://127.0.0.1:9000/jwks", oidc_audience="a",
                               oidc_client_id="c", oidc_redirect_uri="http://127.0.0.1:8000/api/v1/auth/oidc/callback")
    assert settings.oidc_sign_in_enabled()


@pytest.mark.parametrize(("asked", "kept"), [
    ("/c/conv_1?tab=2", "/c/conv_1?tab=2"), ("/documents", "/documents"), (None, "/"), ("", "/"),
    ("https://evil.example/", "/"), ("//evil.example", "/"), ("/\\evil.example", "/"), ("\\\\evil.example", "/"),
    ("/\t/evil.example", "/"), ("/\n/evil.example", "/"), ("javascript:alert(1)", "/"), ("evil.example", "/"),
    ("/caf\u00e9", "/"), ("/" + "a" * 1000, "/"),
])
def test_only_a_path_of_this_app_is_a_way_back(asked, kept):
    assert safe_return_path(asked) == kept


def test_the_web_app_has_a_message_for_every_reason_a_sign_in_ends_on_the_sign_in_screen():
    import re
    from pathlib import Path

    from gateway.identity.oidc_login import REASONS

    source = (Path(__file__).resolve().parents[3] / "web" / "src" / "api" / "oidc.ts").read_text()
    table = source[source.index("SIGN_IN_ERRORS"):source.index("};", source.index("SIGN_IN_ERRORS"))]
    assert set(re.findall(r"^\s+(\w+):", table, re.M)) == set(REASONS)
