"""The web app in headless chromium (Debian's, through Playwright's client) on loopback:

  first load: the JavaScript and CSS a cold browser fetches for the sign-in screen and for a
  signed-in reload with a conversation open, each as shipped and gzipped (level 9: what a
  compressing proxy would send), and the time from navigation until the page answers input
  (the sign-in form's Email field, or the composer, enabled and focusable);

  a 1,000-message conversation (Markdown answers with code, alternating with questions): the time
  from navigation until the newest answer is rendered (the list is virtualised: rows near the
  viewport only) and the composer answers, and the frame times
  while the list is scrolled from top to bottom at 400 px per frame.

The conversation's messages come from a route that answers the app's messages requests in the
browser, paged as the API pages them (100 at most): this measures the client, not the
conversation service (though each of the ten pages crosses Playwright's route handler).

    python bench/web.py [--runs 5]
Writes bench/results/web.md. Targets (issue 13): <= 250 KB gzipped JS on first load, a
1,000-message conversation interactive in <= 1 s.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from fleet import Fleet, Ports  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse battery"
JS_TARGET_KB, INTERACTIVE_TARGET_MS = 250, 1000
MESSAGES = 1000

ANSWER = """Here is what to do, step {i}:

1. Read the **manual** section {i}.
2. Run the check:

```python
def check_{i}(value):
    return value * {i}
```

| item | value |
|------|-------|
| step | {i} |
"""


def fake_messages(conversation_id: str) -> dict:
    messages = []
    parent = None
    for i in range(MESSAGES):
        mid = f"msg_{i:032x}"
        user = i % 2 == 0
        messages.append({
            "id": mid, "conversation_id": conversation_id, "parent_id": parent, "role": "user" if user else "assistant",
            "content": f"Question number {i}: how does step {i} work?" if user else ANSWER.format(i=i),
            "model": "" if user else "fake:fake-model", "finish_reason": "" if user else "stop", "citations": [],
            "error": None, "created_at": "2026-12-01T00:00:00Z", "feedback": None,
        })
        parent = mid
    return {"messages": messages, "pagination": {"total": MESSAGES, "limit": MESSAGES, "offset": 0}}


def paged(everything: dict, url: str) -> str:
    """The page the app asked for (limit, offset), as the API pages it."""
    query = parse_qs(urlparse(url).query)
    limit, offset = int(query.get("limit", ["50"])[0]), int(query.get("offset", ["0"])[0])
    messages = everything["messages"][offset:offset + limit]
    return json.dumps({"messages": messages, "pagination": {"total": len(everything["messages"]), "limit": limit, "offset": offset}})


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


class Shipped:
    """The JS and CSS responses of one page load: bytes as shipped and gzipped."""

    def __init__(self, page) -> None:
        self.files: dict[str, tuple[int, int]] = {}
        page.on("response", self._seen)

    def _seen(self, response) -> None:
        url = response.url
        if not url.endswith((".js", ".css")) or url in self.files:
            return
        try:
            body = response.body()
        except Exception:  # noqa: BLE001 - a response the page dropped
            return
        self.files[url] = (len(body), len(gzip.compress(body, 9)))

    def kb(self, ext: str) -> tuple[float, float]:
        raw = sum(r for u, (r, _) in self.files.items() if u.endswith(ext))
        gz = sum(g for u, (_, g) in self.files.items() if u.endswith(ext))
        return raw / 1024, gz / 1024


def interactive_ms(page, locator) -> float:
    """Navigation start to the moment the control is enabled, as the page's own clock says."""
    locator.wait_for()
    while not locator.is_enabled():
        page.wait_for_timeout(5)
    return page.evaluate("performance.now()")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not (ROOT / "services/gateway/web/dist/index.html").exists():
        sys.exit("the web app is not built: make web")
    from playwright.sync_api import sync_playwright

    fleet = Fleet(Path(tempfile.mkdtemp()) / "var", Ports.free(), {
        "GATEWAY_LOG_LEVEL": "warning", "LLM_LOG_LEVEL": "warning", "CONVERSATION_LOG_LEVEL": "warning",
    }, log_dir=Path(tempfile.mkdtemp()))
    fleet.start()
    results: dict[str, list[float]] = {k: [] for k in ("signin_ms", "chat_ms", "long_ms", "frame_p50", "frame_p95", "frame_max")}
    shipped_signin = shipped_chat = None
    try:
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        httpx.post(fleet.url + "/api/v1/auth/register", json={"email": email, "password": PASSWORD}).raise_for_status()
        conversation_id = "conv_" + uuid.uuid4().hex
        everything = fake_messages(conversation_id)
        short = {"messages": everything["messages"][:2]}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            for run in range(args.runs):
                context = browser.new_context(base_url=fleet.url, viewport={"width": 1280, "height": 800})
                page = context.new_page()
                shipped = Shipped(page)
                page.goto("/")
                results["signin_ms"].append(interactive_ms(page, page.get_by_label("Email")))
                page.get_by_label("Email").fill(email)
                page.get_by_label("Password").fill(PASSWORD)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("button", name="Sign out").wait_for()
                shipped_signin = shipped_signin or shipped
                # Signed in (the refresh cookie), nothing cached: a short conversation opened directly.
                chat = context.new_page()
                shipped = Shipped(chat)
                chat.route(f"**/api/v1/conversations/{conversation_id}/messages*", lambda route: route.fulfill(
                    status=200, content_type="application/json", body=paged(short, route.request.url)))
                chat.goto(f"/c/{conversation_id}")
                chat.get_by_role("log").locator("article.message.assistant table").first.wait_for()
                results["chat_ms"].append(interactive_ms(chat, chat.get_by_role("textbox", name="Message", exact=True)))
                shipped_chat = shipped_chat or shipped
                chat.close()

                long = context.new_page()
                long.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation', "
                                     "e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI))")
                long.route(f"**/api/v1/conversations/{conversation_id}/messages*", lambda route: route.fulfill(
                    status=200, content_type="application/json", body=paged(everything, route.request.url)))
                long.goto(f"/c/{conversation_id}")
                # The last answer rendered (Markdown, table and code), not merely its article.
                # (a virtualised list holds only the rows near the viewport: the last answer is found by its text).
                long.get_by_role("log").locator("article.message", has_text=f"check_{MESSAGES - 1}(").locator("table").wait_for(state="attached")
                results["long_ms"].append(interactive_ms(long, long.get_by_role("textbox", name="Message", exact=True)))
                frames = long.evaluate("""async () => {
                    const list = document.querySelector('[role=log]');
                    list.scrollTop = 0;
                    await new Promise(r => requestAnimationFrame(r));
                    const gaps = [];
                    let last = performance.now();
                    while (list.scrollTop + list.clientHeight < list.scrollHeight - 1) {
                        list.scrollTop += 400;
                        await new Promise(r => requestAnimationFrame(r));
                        const now = performance.now();
                        gaps.push(now - last);
                        last = now;
                    }
                    return gaps;
                }""")
                # The virtualised rows are placed through the CSSOM, which the page's CSP allows.
                assert long.evaluate("window.__csp") == [], long.evaluate("window.__csp")
                results["frame_p50"].append(pct(frames, 0.5))
                results["frame_p95"].append(pct(frames, 0.95))
                results["frame_max"].append(max(frames))
                context.close()
            browser.close()
    finally:
        fleet.stop()
    write(results, shipped_signin, shipped_chat, args.runs)


def write(results: dict[str, list[float]], signin: Shipped, chat: Shipped, runs: int) -> None:
    med = {k: statistics.median(v) for k, v in results.items()}
    js_signin, css_signin = signin.kb(".js"), signin.kb(".css")
    js_chat, css_chat = chat.kb(".js"), chat.kb(".css")

    def ok(value: float, target: float) -> str:
        return "met" if value <= target else "**missed**"

    lines = [
        "# Web app benchmark",
        "",
        f"`python bench/web.py --runs {runs}` on {platform.machine()}, {os.cpu_count()} cores, headless Debian chromium on loopback,",
        f"the sqlite fleet; medians of {runs} runs, each in a fresh browser context (cold cache). Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "## First load",
        "",
        "| page | JS shipped | JS gzipped | CSS shipped | CSS gzipped | interactive |",
        "|---|---|---|---|---|---|",
        f"| sign-in | {js_signin[0]:.0f} KB | {js_signin[1]:.0f} KB | {css_signin[0]:.0f} KB | {css_signin[1]:.0f} KB | {med['signin_ms']:.0f} ms |",
        f"| signed in, a conversation open (Markdown and highlighting loaded) | {js_chat[0]:.0f} KB | {js_chat[1]:.0f} KB | {css_chat[0]:.0f} KB | {css_chat[1]:.0f} KB | {med['chat_ms']:.0f} ms |",
        "",
        f"Target ≤ {JS_TARGET_KB} KB gzipped JS on first load: {ok(max(js_signin[1], js_chat[1]), JS_TARGET_KB)}. The gateway sends",
        "the files uncompressed today (no gzip on the wire); the gzipped column is what a compressing proxy sends.",
        "",
        f"## A {MESSAGES:,}-message conversation",
        "",
        "| measure | median | runs |",
        "|---|---|---|",
        f"| navigation to the newest answer rendered and the composer interactive | {med['long_ms']:.0f} ms | {', '.join(f'{v:.0f}' for v in results['long_ms'])} |",
        f"| scroll frame time p50 | {med['frame_p50']:.1f} ms | {', '.join(f'{v:.1f}' for v in results['frame_p50'])} |",
        f"| scroll frame time p95 | {med['frame_p95']:.1f} ms | {', '.join(f'{v:.1f}' for v in results['frame_p95'])} |",
        f"| scroll frame time max | {med['frame_max']:.1f} ms | {', '.join(f'{v:.1f}' for v in results['frame_max'])} |",
        "",
        f"Target: interactive in ≤ {INTERACTIVE_TARGET_MS} ms: {ok(med['long_ms'], INTERACTIVE_TARGET_MS)}.",
        "",
    ]
    out = ROOT / "bench" / "results" / "web.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
