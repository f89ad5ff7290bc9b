"""Fixtures shared by every test tree: real processes on free loopback ports."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.path.insert(0, str(ROOT / "tests" / "retrieval"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from fake_openai_upstream import Upstream, start_upstream  # noqa: E402


def pytest_collection_modifyitems(items) -> None:
    """`make test-unit` must start no server and load no model: a test under an `integration/`
    folder carries the contract marker, or the run stops here."""
    unmarked = sorted({item.nodeid.split("::")[0] for item in items
                       if "/integration/" in item.nodeid and item.get_closest_marker("contract") is None})
    if unmarked:
        raise pytest.UsageError("tests under integration/ need the contract marker: " + ", ".join(unmarked))


@pytest.fixture
def fake_upstream() -> Iterator[Upstream]:
    upstream = start_upstream()
    yield upstream
    upstream.process.terminate()
    upstream.process.wait(10)


PG_ADMIN_URL = os.environ.get("E2E_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    """An empty database for a service's storage tests, SQLite and the real PostgreSQL (a
    database of its own, dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.db'}"
        return
    import psycopg

    name = f"chatbot_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def refused_configuration(capsys):
    """Loads settings the way a service's entrypoint does and returns the lines it printed on
    refusing them (it must refuse: exit status 2)."""
    from chatbot_common.entrypoint import load_settings

    def refuse(settings_cls) -> list[str]:
        with pytest.raises(SystemExit) as stopped:
            load_settings(settings_cls)
        assert stopped.value.code == 2
        return capsys.readouterr().err.splitlines()

    return refuse
