"""Fixtures shared by every test tree: real processes on free loopback ports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "tests" / "retrieval"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fleet import free_port  # noqa: E402


@dataclass
class Upstream:
    base_url: str
    process: subprocess.Popen

    def control(self, **state) -> None:
        import json

        req = urllib.request.Request(self.base_url.removesuffix("/v1") + "/control", data=json.dumps(state).encode(), method="POST")
        urllib.request.urlopen(req, timeout=5).read()

    def stats(self) -> dict:
        import json

        return json.loads(urllib.request.urlopen(self.base_url.removesuffix("/v1") + "/stats", timeout=5).read())


def start_upstream(tokens: int = 8, gap_ms: float = 5.0) -> Upstream:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tools" / "fake_openai_upstream.py"), "--port", str(port), "--tokens", str(tokens), "--gap-ms", str(gap_ms)]
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=1).read()
            return Upstream(f"http://127.0.0.1:{port}/v1", proc)
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("fake upstream did not start")


@pytest.fixture
def fake_upstream() -> Iterator[Upstream]:
    upstream = start_upstream()
    yield upstream
    upstream.process.terminate()
    upstream.process.wait(10)
