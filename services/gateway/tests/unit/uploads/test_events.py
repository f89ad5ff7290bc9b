"""Storage events: only a fresh batch signed with the shared secret is taken, and a key names a
file inside the ingest directory or nothing."""

from __future__ import annotations

import os
import time

import pytest

from chatbot_common.errors import AppError
from gateway.uploads.events import check_signature, resolve_key, sign

SECRET = "s3cret"
BODY = b'{"events": [{"key": "a.md"}]}'


def _refusal(signature, timestamp, body=BODY) -> str:
    with pytest.raises(AppError) as refused:
        check_signature(SECRET, 300, signature, timestamp, body)
    return refused.value.message


def test_a_fresh_signed_batch_is_taken():
    now = str(int(time.time()))
    check_signature(SECRET, 300, sign(SECRET, now, BODY), now, BODY)


def test_anything_else_is_refused():
    now = str(int(time.time()))
    assert _refusal(None, now) == _refusal(sign(SECRET, now, BODY), "soon") == "X-Signature and X-Timestamp are required"
    old = str(int(time.time()) - 301)
    assert _refusal(sign(SECRET, old, BODY), old) == "the event batch is too old or from the future"
    assert _refusal(sign("other", now, BODY), now) == "bad signature"
    assert _refusal(sign(SECRET, now, BODY), now, BODY + b" ") == "bad signature"


def test_a_key_stays_inside_the_ingest_directory(tmp_path):
    root = tmp_path / "ingest"
    (root / "team").mkdir(parents=True)
    (root / "team" / "a.md").write_text("# A")
    os.symlink(tmp_path, root / "escape")
    assert resolve_key(root, "team/a.md") == (root / "team" / "a.md").resolve()
    for key in ("/etc/passwd", "../secret", "team/../../secret", "team//a.md", "team\\a.md", "a\x00b", "escape/x"):
        with pytest.raises(ValueError):
            resolve_key(root, key)
