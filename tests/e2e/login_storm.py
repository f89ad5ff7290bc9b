"""A burst of concurrent sign-ins, run as its own process so that the load generator's work
never counts against the measurements the test makes in its own process.

    python login_storm.py URL < {"attempts": [[email, password], ...]}

Prepares one task per attempt, waits for a line on stdin, then sends every attempt at once
(one connection each) and prints one JSON object: each attempt's status, error code and Retry-After, in order."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import httpx


async def storm(url: str, attempts: list[list[str]]) -> list[dict]:
    limits = httpx.Limits(max_connections=len(attempts), max_keepalive_connections=len(attempts))
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        go = asyncio.Event()

        async def one(email: str, password: str) -> dict:
            await go.wait()
            try:
                reply = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
            except httpx.HTTPError as exc:  # a reset or a timeout is a failure the test must see
                return {"status": 0, "error": type(exc).__name__, "limit_name": "", "shape": []}
            try:
                body = reply.json()
            except ValueError:
                body = {}
            error = body.get("error") if isinstance(body, dict) else None
            return {"status": reply.status_code, "code": (error or {}).get("code", ""),
                    "limit_name": ((error or {}).get("details") or {}).get("limit_name", ""),
                    "shape": sorted(error) if isinstance(error, dict) else [], "retry_after": reply.headers.get("retry-after")}

        tasks = [asyncio.create_task(one(email, password)) for email, password in attempts]
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        go.set()
        return await asyncio.gather(*tasks)


def main() -> None:
    # The load generator stands for clients on other machines: it yields the CPU to the fleet.
    os.nice(10)
    spec = json.loads(sys.stdin.readline())
    results = asyncio.run(storm(sys.argv[1], spec["attempts"]))
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
