"""An agent run in the web app, in a real browser against the real fleet: with tools on, the
calls show in the answer as they happen; a sensitive call waits with its arguments and Approve,
Deny and Edit; an edited call runs with the person's arguments and the answer goes on in place,
and after a reload the answer shows its steps and no pending approval."""

from __future__ import annotations

import json

import pytest

from test_web_app import Screen, browser, screen, wait_until  # noqa: F401 - browser and screen are fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("fleet", ["sqlite"], indirect=True)]


def test_a_sensitive_call_waits_in_the_page_and_an_edit_runs_it(screen: Screen, fleet):
    page = screen.page
    screen.sign_up()
    target = fleet.upstream.base_url.removesuffix("/v1") + "/stats"
    fleet.upstream.control(reset=True)
    fleet.upstream.control(tool_turns=[[{"name": "calculator", "arguments": json.dumps({"expression": "6 * 7"})}],
                                       [{"name": "http_fetch", "arguments": json.dumps({"url": target})}]],
                           script="All done.", script_piece=3, gap_ms=20)
    page.get_by_label("Tools").check()
    screen.ask("Compute, then fetch the stats.")
    approval = page.get_by_role("group", name="Approval needed")
    approval.wait_for()
    steps = page.get_by_role("region", name="Tool calls").last
    assert "calculator" in steps.inner_text() and "42" in steps.inner_text()
    assert "http_fetch" in approval.inner_text() and target in approval.inner_text()
    screen.axe("approval")
    screen.shot("approval")

    approval.get_by_role("button", name="Edit").click()
    edited = target + "?from=web"
    page.get_by_label("Arguments to run it with").fill(json.dumps({"url": edited}))
    approval.get_by_role("button", name="Run with these arguments").click()
    wait_until(lambda: page.get_by_role("group", name="Approval needed").count() == 0 and "All done." in screen.answer_text())
    page.get_by_role("button", name="Send").wait_for()

    page.reload()
    answer = page.locator("article.message.assistant").last
    answer.get_by_role("region", name="Tool calls").wait_for()
    assert "All done." in answer.locator(".content").inner_text()
    shown = answer.get_by_role("region", name="Tool calls").inner_text()
    assert "http_fetch" in shown and "from=web" in shown and "(edited)" in shown
    assert page.get_by_role("group", name="Approval needed").count() == 0
