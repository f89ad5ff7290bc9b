"""The web app in a real browser (Debian's chromium, driven by Playwright's client) against the
real fleet: sign up, watch an answer arrive token by token, stop one mid-stream, a reload that
keeps the session, an answer followed again after a reload or a switch of conversation mid-answer,
an XSS payload that stays text, the document library (drop, indexed, a cited passage opened), a 360 px screen, and axe-core on each screen.
Every page runs under the gateway's CSP: a violation, a page error or a request to anywhere but
the gateway fails the test.

Screenshots of the main screens go to var/screenshots (WEB_SCREENSHOTS_DIR=docs/screenshots
refreshes the ones the README shows)."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from e2e_support import slow_answer

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("fleet", ["sqlite"], indirect=True)]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
AXE = ROOT / "services" / "gateway" / "web" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = Path(os.environ.get("WEB_SCREENSHOTS_DIR", ROOT / "var" / "screenshots"))
PASSWORD = "correct horse battery"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

# What each page runs before the app: a record of CSP violations, and a sink an injected payload
# would call if it ever ran.
WATCH = """
window.__csp = []; window.__xss = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber + ' ' + (e.target && e.target.outerHTML || '').slice(0, 80)));
"""

RICH_ANSWER = """Here is the plan.

| step | time |
|------|------|
| build | 2 s |
| test | 9 s |

```python
def greet(name):
    return f"Hello, {name}!"
```

Energy: $E = mc^2$, and the sum $$\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}$$ holds."""


def wait_until(condition, timeout: float = 30) -> None:
    """Polled from here: the page's CSP forbids the string evaluation wait_for_function uses."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    if not AXE.exists() or not (ROOT / "services/gateway/web/dist/index.html").exists():
        pytest.fail("the web app is not built: make web")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


class Screen:
    """One browser context (its own cookies) on the fleet, watched for what must never happen."""

    def __init__(self, browser, fleet, **options) -> None:
        self.base = fleet.url
        self.context = browser.new_context(base_url=fleet.url, **options)
        self.context.add_init_script(WATCH)
        self.context.add_init_script(path=str(AXE))
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.elsewhere: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: None if r.url.startswith((self.base, "data:")) else self.elsewhere.append(r.url))

    def sign_up(self) -> str:
        email = f"web-{uuid.uuid4().hex[:10]}@example.com"
        page = self.page
        page.goto("/")
        page.get_by_role("button", name="Create one").click()
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        page.get_by_role("button", name="Sign out").wait_for()
        return email

    def ask(self, text: str, model: str | None = "fake-model") -> None:
        if model:
            picker = self.page.get_by_label("Model")
            option = picker.locator(f"option[value$='{model}']")
            option.wait_for(state="attached")  # the list arrives from /v1/models after the first paint
            picker.select_option(option.get_attribute("value"))
        box = self.page.get_by_role("textbox", name="Message", exact=True)
        box.fill(text)
        box.press("Enter")

    def answer_text(self) -> str:
        return self.page.locator("article.message.assistant .content").last.inner_text()

    def axe(self, name: str) -> None:
        result = self.page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
        assert not bad, f"axe on {name}: {bad}"

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))

    def close(self) -> None:
        csp = self.page.evaluate("window.__csp")
        xss = self.page.evaluate("window.__xss")
        self.context.close()
        assert csp == [], f"CSP violations: {csp}"
        assert xss == [], f"injected script ran: {xss}"
        assert self.errors == [], self.errors
        assert self.elsewhere == [], f"requests outside the gateway: {self.elsewhere}"


@pytest.fixture
def screen(browser, fleet) -> Iterator[Screen]:
    s = Screen(browser, fleet, viewport={"width": 1280, "height": 800})
    yield s
    s.close()


@pytest.fixture
def scripted(fleet):
    """The fake provider answers with a given text, in small pieces, at a pace a person can watch."""

    def script(text: str, piece: int = 3, gap_ms: float = 40) -> None:
        fleet.upstream.control(script=text, script_piece=piece, gap_ms=gap_ms)

    yield script
    fleet.upstream.control(script="", script_piece=3, gap_ms=2.0)


def test_sign_up_then_the_answer_streams_token_by_token_and_renders(screen, scripted):
    page = screen.page
    page.goto("/")
    screen.axe("sign-in")
    screen.shot("sign-in")
    screen.sign_up()
    scripted(RICH_ANSWER, piece=6, gap_ms=60)
    screen.ask("How long do the build and the tests take?")
    page.locator(".typing").wait_for(state="attached")  # before the first token
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not page.locator("article.message.assistant .katex-display").count():
        if page.locator(".answer-text").count():
            seen.append(len(page.locator(".answer-text").inner_text()))
        time.sleep(0.05)
    growing = sorted({n for n in seen if n > 0})
    assert len(growing) >= 5, f"the answer did not arrive in pieces: {growing}"
    page.get_by_role("button", name="Send").wait_for()  # the turn ended
    log = page.get_by_role("log")
    answer = log.locator("article.message.assistant").last
    assert answer.locator("table td").first.inner_text() == "build"
    assert answer.locator("pre code .hljs-keyword").first.inner_text() == "def"
    assert answer.get_by_role("button", name="Copy code").count() == 1
    assert answer.locator(".katex").count() == 2
    page.get_by_role("navigation", name="Conversations").get_by_role("heading", name="Today").wait_for()
    assert re.fullmatch(r".*/c/conv_[0-9a-f]{32}", page.url)
    screen.axe("chat")
    screen.shot("chat")
    page.get_by_label("Theme").select_option("dark")
    screen.axe("chat, dark")
    screen.shot("chat-dark")


def test_stop_keeps_the_partial_answer(screen, scripted):
    page = screen.page
    screen.sign_up()
    full = " ".join(f"word{i}" for i in range(200))
    scripted(full, piece=6, gap_ms=50)
    screen.ask("Count slowly.")
    page.get_by_role("button", name="Stop").wait_for()
    wait_until(lambda: page.locator("article.message.assistant").count() and len(screen.answer_text()) > 40)
    page.keyboard.press("Escape")
    page.get_by_text("Stopped.").wait_for()
    shown = screen.answer_text().removesuffix("Stopped.").strip()
    time.sleep(1.0)
    assert screen.answer_text().removesuffix("Stopped.").strip() == shown
    assert 0 < len(shown) < len(full) and full.startswith(shown)
    assert page.get_by_role("button", name="Send").is_visible()
    # What the conversation keeps is the partial answer too.
    page.reload()
    page.get_by_text("Stopped.").wait_for()
    stored = screen.answer_text().removesuffix("Stopped.").strip()
    assert 0 < len(stored) < len(full) and full.startswith(stored)


def test_an_xss_payload_shows_as_text_and_never_runs(screen, scripted):
    page = screen.page
    screen.sign_up()
    payload = ("<img src=x onerror=\"window.__xss.push('img')\"> <script>window.__xss.push('script')</script> "
               "<a href=\"javascript:window.__xss.push('a')\">go</a> [link](javascript:window.__xss.push('md'))")
    scripted("Echo: " + payload, piece=5, gap_ms=5)
    screen.ask("Please repeat: " + payload)
    page.get_by_role("button", name="Send").wait_for()
    page.locator("article.message.assistant").last.wait_for()
    log = page.get_by_role("log")
    assert "<img src=x onerror=" in log.locator("article.message.user").last.inner_text()
    # The fleet's output filter neutralises the answer's links and images first; what passes it
    # (the script element here) is shown as text too.
    assert "window.__xss.push('script')</script>" in screen.answer_text()
    assert log.locator("img, script, iframe, [onerror], a[href^='javascript']").count() == 0
    for link in log.locator("a").all():
        link.click(modifiers=["Control"], no_wait_after=True)
    page.reload()
    page.get_by_role("log").locator("article.message.assistant").last.wait_for()
    assert page.get_by_role("log").locator("img, script, [onerror]").count() == 0


def test_a_reload_keeps_the_session_and_script_cannot_read_the_tokens(screen, scripted):
    page = screen.page
    email = screen.sign_up()
    scripted("Noted.", gap_ms=5)
    screen.ask("Remember this chat.")
    page.get_by_role("button", name="Send").wait_for()
    page.reload()
    page.get_by_role("button", name="Sign out").wait_for()
    page.get_by_title(email).wait_for()
    page.get_by_role("log").get_by_text("Noted.").wait_for()
    # The refresh token is an httpOnly cookie; the access token lives only in memory.
    assert "chatbot_refresh" not in page.evaluate("document.cookie")
    stored = page.evaluate("JSON.stringify({...localStorage, ...sessionStorage})")
    assert "eyJ" not in stored and "refresh" not in stored
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign in").wait_for()
    page.reload()
    page.get_by_role("heading", name="Sign in").wait_for()


def test_usable_at_360_px(browser, fleet, scripted):
    screen = Screen(browser, fleet, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True)
    try:
        page = screen.page
        screen.sign_up()
        scripted("Short answer with `code` and a long unbroken word " + "x" * 80, gap_ms=5)
        screen.ask("Hello from a phone")
        page.get_by_role("button", name="Send").wait_for()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert page.get_by_role("textbox", name="Message", exact=True).is_visible()
        screen.axe("chat at 360 px")
        screen.shot("mobile")
        page.get_by_role("button", name="Conversations").click()
        sidebar = page.get_by_role("navigation", name="Conversations")
        sidebar.get_by_role("button", name="New chat").wait_for()
        screen.shot("mobile-sidebar")
        sidebar.get_by_role("button", name="New chat").click()
        page.get_by_text("Ask anything").wait_for()
    finally:
        screen.close()


def test_the_api_docs_load_from_the_gateway_alone(screen):
    page = screen.page
    page.goto("/api/v1/docs")
    page.get_by_text("Chatbot platform API").first.wait_for()
    assert page.locator(".opblock").count() > 10


def test_the_sidebar_renames_searches_and_deletes(screen, scripted):
    page = screen.page
    screen.sign_up()
    scripted("Fine.", gap_ms=5)
    nav = page.get_by_role("navigation", name="Conversations")
    for question in ("First question", "Second question"):
        nav.get_by_role("button", name="New chat").click()
        screen.ask(question)
        nav.get_by_role("link", name=question).wait_for()
        page.get_by_role("log").get_by_text("Fine.").wait_for()
    nav.get_by_role("button", name="Rename First question").click()
    field = nav.get_by_label("New title")
    field.fill("Travel plans")
    field.press("Enter")
    nav.get_by_role("link", name="Travel plans").wait_for()
    search = nav.get_by_label("Search conversations")
    page.keyboard.press("Control+k")
    assert search.evaluate("el => el === document.activeElement")
    page.keyboard.type("travel")
    wait_until(lambda: nav.get_by_role("link").count() == 1)
    # The server searches what was said too: the renamed conversation's question still matches.
    search.fill("first QUESTION")
    nav.get_by_role("link", name="Second question").wait_for(state="detached")
    assert nav.get_by_role("link").all_inner_texts() == ["Travel plans"]
    search.fill("")
    nav.get_by_role("link", name="Second question").wait_for()
    # Pinned conversations come first, under their own heading; an archived one leaves the list.
    nav.get_by_role("button", name="Pin Second question").click()
    nav.get_by_role("region", name="Pinned").get_by_role("link", name="Second question").wait_for()
    assert nav.get_by_role("link").all_inner_texts() == ["Second question", "Travel plans"]
    nav.get_by_role("button", name="Unpin Second question").click()
    nav.get_by_role("region", name="Pinned").wait_for(state="detached")
    page.once("dialog", lambda dialog: dialog.accept())
    nav.get_by_role("button", name="Delete Travel plans").click()
    nav.get_by_role("link", name="Travel plans").wait_for(state="detached")
    page.reload()
    nav.get_by_role("link", name="Second question").click()
    page.get_by_role("log").get_by_text("Fine.").wait_for()
    page.keyboard.press("Control+Shift+O")
    page.get_by_text("Ask anything").wait_for()
    assert page.url == screen.base + "/"
    assert nav.get_by_role("link", name="Travel plans").count() == 0
    nav.get_by_role("button", name="Archive Second question").click()
    nav.get_by_role("link", name="Second question").wait_for(state="detached")
    screen.axe("sidebar")


def test_a_failed_answer_shows_an_error_and_retry_answers(screen, fleet, scripted):
    page = screen.page
    screen.sign_up()
    scripted("Recovered.", gap_ms=5)
    fleet.upstream.control(fail_next=3, status=503)
    try:
        screen.ask("Will this work?")
        alert = page.get_by_role("log").get_by_role("alert")
        alert.wait_for()
    finally:
        fleet.upstream.control(fail_next=0)
    screen.axe("error")
    alert.get_by_role("button", name="Retry").click()
    page.get_by_role("log").get_by_text("Recovered.").wait_for()
    assert page.get_by_role("log").get_by_role("alert").count() == 0


def drop_files(page, target, files: dict[str, str]) -> None:
    """Drops files on `target` as a person dragging them from the desktop would (a drop event
    carrying a DataTransfer with the files)."""
    transfer = page.evaluate_handle(
        """files => { const t = new DataTransfer();
                      for (const [name, text] of Object.entries(files)) t.items.add(new File([text], name));
                      return t; }""", files)
    target.dispatch_event("drop", {"dataTransfer": transfer})


def test_documents_dropped_in_the_library_are_indexed_and_an_answer_opens_the_cited_passage(screen, scripted):
    page = screen.page
    screen.sign_up()
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Documents").click()
    page.get_by_role("heading", name="Documents").wait_for()
    assert page.url == screen.base + "/documents"
    page.get_by_label("Share with everyone in").check()
    name = "<svg onload=window.__xss.push('name')>.md"
    text = ("# Moon base <img src=x onerror=\"window.__xss.push('doc')\">\n\n## Airlocks\n\n"
            "Airlock C on the moon base is sealed every night at 22:00 sharp.\n\n"
            "The inner door stays locked until the pressure check passes at 06:00.\n")
    drop_files(page, page.get_by_role("region", name="Upload"), {name: text, "broken.pdf": "%PDF-1.4\n1 0 obj\n<< /Type"})
    uploads = page.get_by_role("list", name="Uploads")
    uploads.get_by_role("progressbar").nth(1).wait_for()
    assert uploads.get_by_role("progressbar").count() == 2
    uploads.get_by_text("Uploaded").nth(1).wait_for()
    library = page.get_by_role("table")
    moon = library.get_by_role("row").filter(has_text="Moon base")
    moon.get_by_text("Indexed").wait_for(timeout=120_000)  # the list is polled while ingestion runs
    assert "Tenant" in moon.inner_text()
    broken = library.get_by_role("row").filter(has_text="broken.pdf")
    broken.get_by_text("Failed").wait_for(timeout=120_000)
    assert "PDF" in broken.inner_text()  # with its reason
    screen.axe("documents")
    screen.shot("documents")

    page.once("dialog", lambda dialog: dialog.accept())
    broken.get_by_role("button", name=re.compile(r"^Delete ")).click()
    broken.wait_for(state="detached")

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Chat").click()
    scripted("Airlock C is sealed at 22:00 [1].", gap_ms=5)
    screen.ask("When is airlock C sealed?")
    # Once the turn has ended: the answer then moves from the live stream to the history.
    page.get_by_role("log").locator("article.message.assistant").get_by_text("Airlock C is sealed").wait_for()
    page.get_by_role("button", name="Send").wait_for()
    sources = page.get_by_role("log").get_by_role("region", name="Sources")
    opener = sources.get_by_role("button").first
    opener.click()
    passage = page.get_by_role("dialog")
    passage.get_by_text("The inner door stays locked").wait_for()  # the whole passage, beyond the snippet
    assert "Airlocks" in passage.inner_text()
    assert page.locator("img, svg:not(.katex *), [onerror], [onload]").count() == 0
    screen.axe("cited passage")
    screen.shot("passage")
    page.keyboard.press("Escape")
    passage.wait_for(state="detached")
    assert opener.evaluate("el => el === document.activeElement")
    screen.axe("answer with sources")


def test_tabs_that_renew_at_the_same_moment_keep_the_session(screen):
    """The tabs share the refresh cookie, and a rotated token presented twice ends the session:
    their refreshes take turns (Web Locks), so both stay signed in."""
    page = screen.page
    screen.sign_up()
    other = screen.context.new_page()
    other.goto("/")
    other.get_by_role("button", name="Sign out").wait_for()
    for _ in range(3):
        # Both reload within a millisecond or two of each other, so their refreshes overlap.
        deadline = page.evaluate("Date.now() + 300")
        for tab in (page, other):
            tab.evaluate("at => setTimeout(() => location.reload(), at - Date.now())", deadline)
        time.sleep(0.5)
        page.get_by_role("button", name="Sign out").wait_for()
        other.get_by_role("button", name="Sign out").wait_for()


def test_an_answer_in_flight_survives_a_reload_and_a_switch_of_conversation(screen, fleet):
    """The answer goes on server side; the page that comes back follows it again and shows it once,
    whole: what had arrived before the reload is replayed, not added to."""
    page = screen.page
    screen.sign_up()
    log = page.get_by_role("log")
    nav = page.get_by_role("navigation", name="Conversations")
    script = " ".join(f"w{i}" for i in range(100))  # about 2.5 s in 4-character pieces 25 ms apart

    def mid_answer() -> None:
        wait_until(lambda: page.locator(".answer-text").count() and len(page.locator(".answer-text").inner_text()) > 20)

    with slow_answer(fleet, script):
        screen.ask("Recite the words.")
        mid_answer()
        page.reload()
        page.get_by_role("button", name="Stop").wait_for()  # still streaming, followed again
        page.get_by_role("button", name="Send").wait_for()
        assert log.locator("article.message.assistant .content").all_inner_texts() == [script]
        assert log.locator("article.message.user .content").all_inner_texts() == ["Recite the words."]

        screen.ask("Once more.")
        mid_answer()
        nav.get_by_role("button", name="New chat").click()
        page.get_by_text("Ask anything").wait_for()
        nav.get_by_role("link", name="Recite the words.").click()
        page.get_by_role("button", name="Stop").wait_for()
        page.get_by_role("button", name="Send").wait_for()
    assert log.locator("article.message.assistant .content").all_inner_texts() == [script, script]
    assert log.locator("article.message.user .content").all_inner_texts() == ["Recite the words.", "Once more."]
    page.reload()
    log.locator("article.message.assistant").nth(1).wait_for()
    assert log.locator("article.message.assistant .content").all_inner_texts() == [script, script]


def test_an_edited_question_starts_a_branch_and_the_first_stays_reachable(screen, scripted):
    """Also: an answer rated with a comment, regenerated beside the first, and the conversation exported."""
    page = screen.page
    screen.sign_up()
    log = page.get_by_role("log")
    contents = log.locator("article.message .content")
    scripted("Paris.", gap_ms=5)
    screen.ask("Capital of France?")
    log.get_by_text("Paris.").wait_for()
    page.get_by_role("button", name="Send").wait_for()
    # Rated, with a comment: stored with the answer.
    log.get_by_role("button", name="Good answer").click()
    log.get_by_role("button", name="Add a comment").click()
    log.get_by_label("Comment on this answer").fill("Short and right.")
    log.get_by_role("button", name="Save").click()
    log.get_by_text("“Short and right.”").wait_for()

    scripted("Rome.", gap_ms=5)
    log.locator("article.message.user").get_by_role("button", name="Edit").click()
    editor = log.get_by_role("textbox", name="Edit your message")
    editor.fill("Capital of Italy?")
    editor.press("Enter")
    log.get_by_text("Rome.").wait_for()
    page.get_by_role("button", name="Send", exact=True).wait_for()
    log.get_by_role("group", name="question versions").get_by_text("2/2").wait_for()
    assert contents.all_inner_texts() == ["Capital of Italy?", "Rome."]
    screen.axe("edited branch")
    screen.shot("branches")

    log.get_by_role("button", name="Previous question").click()
    log.get_by_text("Paris.").wait_for()
    assert contents.all_inner_texts() == ["Capital of France?", "Paris."]
    assert log.get_by_role("button", name="Good answer").get_attribute("aria-pressed") == "true"
    scripted("Paris, on the Seine.", gap_ms=5)
    log.get_by_role("button", name="Regenerate").click()
    log.get_by_text("Paris, on the Seine.").wait_for()
    log.get_by_role("group", name="answer versions").get_by_text("2/2").wait_for()
    assert contents.all_inner_texts() == ["Capital of France?", "Paris, on the Seine."]
    # The branch shown is the one the server keeps current: a reload shows it too.
    page.reload()
    log.get_by_text("Paris, on the Seine.").wait_for()
    log.get_by_role("group", name="question versions").get_by_text("1/2").wait_for()
    log.get_by_role("button", name="Previous answer").click()
    log.get_by_text("Paris.").wait_for()
    with page.expect_download() as download:
        page.get_by_role("button", name="Export as Markdown").click()
    exported = Path(download.value.path()).read_text()
    assert "Capital of France?" in exported and "Paris." in exported


def test_an_admin_creates_a_key_and_reads_the_audit_log_and_a_member_sees_no_admin_controls(browser, fleet, screen):
    page = screen.page
    screen.sign_up()  # the first account of a new organisation is its admin
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Admin").click()
    page.get_by_role("heading", name="Users and roles").wait_for()
    member = f"member-{uuid.uuid4().hex[:8]}@example.com"
    users = page.get_by_role("form", name="Add a user")
    users.get_by_label("Email").fill(member)
    users.get_by_label("First password").fill(PASSWORD)
    users.get_by_role("button", name="Add user").click()
    page.get_by_role("cell", name=member, exact=True).wait_for()

    keys = page.get_by_role("form", name="Create an API key")
    keys.get_by_label("Name").fill("CI pipeline")
    keys.get_by_label("documents:read").check()
    keys.get_by_label("Expires in (days)").fill("30")
    keys.get_by_role("button", name="Create key").click()
    secret = page.locator(".created-key code")
    secret.wait_for()
    key = secret.inner_text()
    row = page.get_by_role("row").filter(has_text="CI pipeline")
    row.wait_for()
    assert "chat, documents:read" in row.inner_text() and "Active" in row.inner_text()
    assert key not in page.get_by_role("table").first.inner_text()  # the list never shows it
    # The key works, as the one it was shown to be.
    reply = httpx.get(fleet.url + "/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 200 and reply.json()["api_key_id"]
    page.get_by_role("button", name="Done").click()
    secret.wait_for(state="detached")

    audit = page.get_by_role("form", name="Filter the audit log")
    audit.get_by_label("Action").fill("api_key.create")
    audit.get_by_role("button", name="Filter").click()
    events = page.get_by_role("table", name="Audit events")
    wait_until(lambda: events.get_by_role("row").count() == 2)  # the header and the one creation
    assert "api_key.create" in events.inner_text() and "success" in events.inner_text()
    screen.axe("admin")
    screen.shot("admin")

    other = Screen(browser, fleet, viewport={"width": 1280, "height": 800})
    try:
        mpage = other.page
        mpage.goto("/")
        mpage.get_by_label("Email").fill(member)
        mpage.get_by_label("Password").fill(PASSWORD)
        mpage.get_by_role("button", name="Sign in").click()
        sections = mpage.get_by_role("navigation", name="Sections")
        sections.get_by_role("link", name="Documents").wait_for()
        assert sections.get_by_role("link", name="Admin").count() == 0
        mpage.goto("/admin")
        mpage.get_by_text("Only your organisation's admins can see this page.").wait_for()
        assert mpage.get_by_role("form").count() == 0 and mpage.get_by_role("table").count() == 0
    finally:
        other.close()
