"""The web app in a real browser, beside test_web_app.py (whose harness it uses): a reload
mid-answer that lands on another gateway replica (another origin, so nothing of the first tab's
sessionStorage) finds the answer through the server (pending_message_id, over the shared Redis
buffer) and shows it whole, once; an admin invites someone, copies the link, and the invitee
accepts it in a fresh browser, signed in as a member with no admin control."""

from __future__ import annotations

import re
import uuid

import pytest

from e2e_support import slow_answer
from fleet import free_port
from test_web_app import PASSWORD, Screen, browser, wait_until  # noqa: F401 - browser is a fixture

pytestmark = pytest.mark.e2e


class TwoReplicas(Screen):
    """A screen that may also load the app from a second gateway replica of the same fleet."""

    def __init__(self, browser, fleet, replica: str, **options) -> None:
        super().__init__(browser, fleet, **options)
        self.replica = replica
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))

    def close(self) -> None:
        self.elsewhere[:] = [url for url in self.elsewhere if not url.startswith(self.replica)]
        super().close()


@pytest.mark.parametrize("fleet", ["postgres"], indirect=True)  # the fleet whose answers in flight are in Redis
def test_a_reload_that_lands_on_another_replica_finishes_the_same_answer(browser, fleet):
    replica = fleet.start_gateway_replica("gateway-web-b", free_port())
    screen = TwoReplicas(browser, fleet, replica, viewport={"width": 1280, "height": 800})
    try:
        page = screen.page
        email = screen.sign_up()
        log = page.get_by_role("log")
        script = " ".join(f"w{i}" for i in range(200))  # about 5 s in 4-character pieces 25 ms apart
        with slow_answer(fleet, script):
            screen.ask("Recite the words.")
            wait_until(lambda: page.locator(".answer-text").count() and len(page.locator(".answer-text").inner_text()) > 20)
            path = re.fullmatch(re.escape(fleet.url) + r"(/c/conv_[0-9a-f]{32})", page.url).group(1)
            # The reload lands on replica B: another origin, whose sessionStorage has never heard of the answer.
            page.goto(replica + path)
            # The refresh cookie is the host's (cookies do not tell ports apart): B signs the page
            # in with it. Were it per origin, the person would sign in again on B.
            signed_out = page.get_by_role("heading", name="Sign in")
            signed_out.or_(page.get_by_role("button", name="Sign out")).first.wait_for()
            if signed_out.count():
                page.get_by_label("Email").fill(email)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in", exact=True).click()
            page.get_by_role("button", name="Stop").wait_for()  # still streaming, followed again from B
            # another origin than the one the question was asked on, so another sessionStorage:
            # the answer was found through the server alone
            assert page.evaluate("location.origin") == replica != fleet.url
            page.get_by_role("button", name="Send").wait_for()
        assert log.locator("article.message.assistant .content").all_inner_texts() == [script]
        assert log.locator("article.message.user .content").all_inner_texts() == ["Recite the words."]
        followed = [u for u in screen.requests if re.match(re.escape(replica) + r"/api/v1/chat/stream/msg_[0-9a-f]{32}$", u)]
        assert followed, "the answer was not followed on replica B"
        # what the conversation stores is the same answer
        page.reload()
        log.locator("article.message.assistant").first.wait_for()
        assert log.locator("article.message.assistant .content").all_inner_texts() == [script]
    finally:
        screen.close()
        process = fleet.processes.pop("gateway-web-b")
        process.terminate()
        assert process.wait(30) in (0, -15)


@pytest.mark.parametrize("fleet", ["sqlite"], indirect=True)
def test_an_admin_invites_and_the_invitee_joins_as_a_member_without_admin_controls(browser, fleet):
    admin = Screen(browser, fleet, viewport={"width": 1280, "height": 800})
    try:
        page = admin.page
        admin.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=fleet.url)
        admin.sign_up()  # the first account of a new organisation is its admin
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Admin").click()
        form = page.get_by_role("form", name="Invite someone")
        email = f"invitee-{uuid.uuid4().hex[:8]}@example.com"
        form.get_by_label("Email").fill(email)
        form.get_by_label("Role").select_option("member")
        form.get_by_role("button", name="Invite").click()
        shown = page.locator(".created-invitation code")
        shown.wait_for()
        page.get_by_role("button", name="Copy link").click()
        page.get_by_role("button", name="Copied").wait_for()
        link = page.evaluate("navigator.clipboard.readText()")
        assert link == shown.inner_text()
        assert re.fullmatch(re.escape(fleet.url) + r"/#/invite/cbi_[A-Za-z0-9_-]{43}", link)
        invitations = page.get_by_role("table", name="Invitations")
        row = invitations.get_by_role("row").filter(has_text=email)
        row.get_by_role("cell", name="Pending").wait_for()
        admin.axe("admin with an invitation")
        page.get_by_role("button", name="Done").click()
        shown.wait_for(state="detached")

        invitee = Screen(browser, fleet, viewport={"width": 1280, "height": 800})  # a fresh browser: no cookie, no storage
        try:
            ipage = invitee.page
            ipage.goto(link)
            heading = ipage.get_by_role("heading", name=re.compile(r"^Join "))
            heading.wait_for()
            assert email in ipage.get_by_role("main").inner_text() and "member" in ipage.get_by_role("main").inner_text()
            invitee.axe("accept an invitation")
            invitee.shot("invitation")
            ipage.get_by_label("Your name").fill("Grace Hopper")
            ipage.get_by_label("Choose a password").fill(PASSWORD)
            ipage.get_by_role("button", name=re.compile(r"^Join ")).click()
            ipage.get_by_role("button", name="Sign out").wait_for()
            ipage.get_by_title(email).wait_for()
            assert "#" not in ipage.url  # the token left the address bar and the history
            sections = ipage.get_by_role("navigation", name="Sections")
            sections.get_by_role("link", name="Documents").wait_for()
            assert sections.get_by_role("link", name="Admin").count() == 0
            ipage.goto("/admin")
            ipage.get_by_text("Only your organisation's admins can see this page.").wait_for()
            assert ipage.get_by_role("form").count() == 0 and ipage.get_by_role("table").count() == 0
            # a reload keeps the session the invitation opened
            ipage.reload()
            ipage.get_by_role("button", name="Sign out").wait_for()
            # the link works once
            ipage.goto(link)
            ipage.get_by_role("alert").get_by_text("cannot be used").wait_for()
            ipage.get_by_role("button", name="Go to sign-in").click()
            ipage.get_by_role("button", name="Sign out").wait_for()  # still signed in as the member
        finally:
            invitee.close()

        page.reload()
        row.get_by_role("cell", name="Accepted").wait_for()
        users = page.get_by_role("table").first
        users.get_by_role("cell", name=email, exact=True).wait_for()
    finally:
        admin.close()
