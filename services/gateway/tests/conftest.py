"""The gateway's own tables, migrated for real: on SQLite under tmp_path, and (marked `contract`,
so `make test-unit` skips it) on the PostgreSQL server on 127.0.0.1 in a database of its own."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

import gateway
from chatbot_common import db
from chatbot_common.settings import sqlite_url

MIGRATIONS = Path(gateway.__file__).parent / "migrations"
PG_ADMIN_URL = os.environ.get("E2E_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_database() -> tuple[str, callable]:
    import psycopg

    name = f"gateway_unit_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}", drop


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.contract)])
async def sessions(request, tmp_path):
    """A session factory over the gateway's migrated schema."""
    drop = None
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "gateway.db")
    else:
        url, drop = await asyncio.to_thread(_postgres_database)
    await asyncio.to_thread(db.upgrade_to_head, MIGRATIONS, db.normalize_url(url))
    engine = db.create_engine(url)
    try:
        yield db.session_factory(engine)
    finally:
        await engine.dispose()
        if drop:
            await asyncio.to_thread(drop)


@pytest.fixture
def origin():
    """Where audited actions come from, as a request carries it."""
    return SimpleNamespace(client=SimpleNamespace(host="203.0.113.7"), state=SimpleNamespace(request_id="req-test"))


@pytest.fixture
def passwords():
    from gateway.security import PasswordHashing

    hashing = PasswordHashing(workers=1, queue=8, nice=0)
    yield hashing
    hashing.close()
