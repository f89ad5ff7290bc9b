"""Helpers the e2e tests share: accounts, auth headers, an SSE reader."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx


def register_and_login(http: httpx.Client) -> dict[str, str]:
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    reply = http.post("/api/v1/auth/register", json={"email": email, "password": "correct horse battery"})
    assert reply.status_code == 201, reply.text
    tokens = http.post("/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}).json()
    return {"Authorization": f"Bearer {tokens['access_token']}", "_refresh": tokens["refresh_token"], "_email": email}


def auth(user: dict[str, str]) -> dict[str, str]:
    return {"Authorization": user["Authorization"]}


def events(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    name, data = "message", []
    for line in lines:
        if line == "":
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
