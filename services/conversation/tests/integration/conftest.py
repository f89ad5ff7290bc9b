"""What the conversation service's contract tests share: the scripted OpenAI-compatible fake
upstream (tools/fake_openai_upstream.py), a real process over HTTP, one per test module."""

from __future__ import annotations

import pytest

from fake_openai_upstream import start_upstream


@pytest.fixture(scope="module")
def upstream():
    server = start_upstream(tokens=3, gap_ms=1.0)
    yield server
    server.process.terminate()
    server.process.wait(10)
