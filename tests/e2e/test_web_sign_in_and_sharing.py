"""The web app in a real browser (as in test_web_app.py: Debian's chromium through Playwright's
client, the real fleet, the CSP watched, axe-core on each screen): a person signs in with the
configured external identity provider by clicking its button, comes back where they were,
signed in, and stays signed in after a reload (a refusal at the provider ends on the sign-in
screen with a message); the owner of a document shares it with the tenant from the library and
takes it back, and a colleague's search follows each switch."""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace

import httpx
import pytest

from fleet import free_port
from oidc_issuer import OidcIssuer
from test_web_app import PASSWORD, Screen, browser, drop_files, screen, wait_until  # noqa: F401 - browser and screen are fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("fleet", ["sqlite"], indirect=True)]
CALLBACK = "/api/v1/auth/oidc/callback"


@pytest.fixture(scope="module")
def provider_gateway(fleet):
    """A gateway replica in front of the fleet's services with browser sign-in configured against
    a small real OpenID Connect issuer on a free port."""
    idp = OidcIssuer("chatbot-web", "web-secret")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    idp.redirect_uris.append(url + CALLBACK)
    fleet.start_gateway_replica("gateway-oidc", port, env={
        "GATEWAY_OIDC_ISSUER": idp.url, "GATEWAY_OIDC_JWKS_URL": idp.url + "/jwks", "GATEWAY_OIDC_AUDIENCE": "chatbot-api",
        "GATEWAY_OIDC_CLIENT_ID": "chatbot-web", "GATEWAY_OIDC_CLIENT_SECRET": "web-secret",
        "GATEWAY_OIDC_REDIRECT_URI": url + CALLBACK, "GATEWAY_OIDC_DISPLAY_NAME": "Example SSO"})
    yield SimpleNamespace(url=url, idp=idp)
    process = fleet.processes.pop("gateway-oidc")
    process.terminate()
    process.wait(15)
    idp.stop()


def test_a_person_signs_in_with_the_identity_provider_and_stays_signed_in_after_a_reload(browser, provider_gateway):
    idp = provider_gateway.idp
    email = f"sso-{uuid.uuid4().hex[:8]}@example.com"
    idp.sign_in_as(sub=f"sso-{uuid.uuid4().hex[:8]}", email=email)
    screen = Screen(browser, provider_gateway, viewport={"width": 1280, "height": 800})
    try:
        page = screen.page
        page.goto("/documents")
        button = page.get_by_role("link", name="Sign in with Example SSO")
        button.wait_for()
        screen.axe("sign-in with an identity provider")

        idp.misbehave(deny=True)
        button.click()
        page.get_by_role("alert").get_by_text("The sign-in was cancelled or refused at your identity provider.").wait_for()
        assert page.url == provider_gateway.url + "/"  # the reason is not left in the address
        screen.shot("sign-in-sso-refused")

        idp.misbehave()
        page.goto("/documents")
        page.get_by_role("link", name="Sign in with Example SSO").click()
        page.get_by_role("button", name="Sign out").wait_for()
        page.get_by_role("heading", name="Documents").wait_for()  # back where they were
        assert page.url == provider_gateway.url + "/documents"
        page.get_by_text(email).first.wait_for()  # who is signed in

        page.reload()
        page.get_by_role("button", name="Sign out").wait_for()
        page.get_by_role("heading", name="Documents").wait_for()
        assert page.get_by_role("link", name="Sign in with Example SSO").count() == 0
    finally:
        # The provider's own pages are the only other place the browser went.
        screen.elsewhere = [url for url in screen.elsewhere if not url.startswith(idp.url + "/")]
        screen.close()


def test_the_owner_shares_a_document_from_the_library_and_a_colleague_finds_it_only_meanwhile(screen, fleet):
    page = screen.page
    owner = screen.sign_up()  # the admin of an organisation of their own
    admin = {"Authorization": "Bearer " + httpx.post(fleet.url + "/api/v1/auth/login",
                                                     json={"email": owner, "password": PASSWORD}).json()["access_token"]}
    colleague = f"colleague-{uuid.uuid4().hex[:8]}@example.com"
    assert httpx.post(fleet.url + "/api/v1/admin/users", headers=admin,
                      json={"email": colleague, "password": PASSWORD, "role": "member"}).status_code == 201
    member = {"Authorization": "Bearer " + httpx.post(fleet.url + "/api/v1/auth/login",
                                                      json={"email": colleague, "password": PASSWORD}).json()["access_token"]}
    word = f"narwhal{uuid.uuid4().hex[:6]}"

    def colleague_finds() -> bool:
        hits = httpx.post(fleet.url + "/api/v1/search", headers=member, json={"query": f"When is the {word} gate closed?"}).json()["hits"]
        return any(word in hit["chunk"]["text"] for hit in hits)

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Documents").click()
    page.get_by_role("heading", name="Documents").wait_for()
    drop_files(page, page.get_by_role("region", name="Upload"),
               {"gates.md": f"# Gates\n\nThe {word} gate is closed every evening at nine.\n"})
    row = page.get_by_role("table").get_by_role("row").filter(has_text="Gates")
    row.get_by_text("Indexed").wait_for(timeout=120_000)
    switch = row.get_by_role("switch", name=re.compile(r"^Share Gates with "))
    assert not switch.is_checked() and not colleague_finds()

    switch.click()
    wait_until(lambda: switch.is_checked() and switch.is_enabled() and "Tenant" in row.inner_text())
    assert colleague_finds()
    screen.axe("documents, shared")
    screen.shot("documents-shared")

    switch.click()
    wait_until(lambda: not switch.is_checked() and switch.is_enabled() and "Private" in row.inner_text())
    assert not colleague_finds()
