"""Settings are read once, from the service's own prefixed variables first and the fleet-wide
names after; a bad value is refused with one line naming the variable, never its value."""

from typing import Annotated

import pytest
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chatbot_common.settings import (AlsoFrom, BlobStoreSettings, BrokerSettings, DatabaseSettings, EmbeddingSettings,
                                     GrpcServiceSettings, sqlite_url)

FLEET_WIDE = ("DATABASE_URL", "BLOB_STORE", "INGEST_BROKER_URL", "CELERY_BROKER_URL", "REDIS_URL", "PEERS")


class DemoSettings(GrpcServiceSettings, DatabaseSettings, BlobStoreSettings, BrokerSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")
    database_file = "demo.db"

    peers: Annotated[list[str], AlsoFrom("PEERS")] = Field(default_factory=list)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in FLEET_WIDE:
        monkeypatch.delenv(name, raising=False)


def test_embedded_defaults_live_under_var(tmp_path):
    settings = DemoSettings(var_dir=tmp_path)
    assert settings.database_url == sqlite_url(tmp_path / "demo.db")
    assert settings.blob_store_path() == tmp_path / "blobs"
    assert settings.broker_url == ""


def test_the_services_own_variable_wins_over_the_fleet_wide_ones(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://shared:6379/0")
    assert DemoSettings().broker_url == "redis://shared:6379/0"
    monkeypatch.setenv("INGEST_BROKER_URL", "amqp://ingest")  # listed before REDIS_URL
    assert DemoSettings().broker_url == "amqp://ingest"
    monkeypatch.setenv("DEMO_BROKER_URL", "")  # set, though empty: the embedded broker
    assert DemoSettings().broker_url == ""
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/shared")
    monkeypatch.setenv("DEMO_DATABASE_URL", "postgresql://db/demo")
    assert DemoSettings().database_url == "postgresql://db/demo"


def test_fleet_wide_values_are_read_like_the_prefixed_ones(monkeypatch):
    monkeypatch.setenv("BLOB_STORE", "file:///srv/blobs")
    monkeypatch.setenv("PEERS", '["10.0.0.1", "10.0.0.2"]')  # JSON, as for the prefixed name
    settings = DemoSettings()
    assert str(settings.blob_store_path()) == "/srv/blobs" and settings.peers == ["10.0.0.1", "10.0.0.2"]


@pytest.mark.parametrize(("variable", "value", "line"), [
    ("DEMO_GRPC_PORT", "70000", "DEMO_GRPC_PORT: Input should be less than or equal to 65535"),
    ("DATABASE_URL", "mysql://admin:hunter2@db/chat",
     "DEMO_DATABASE_URL (or DATABASE_URL): unsupported database backend 'mysql': use sqlite or postgresql"),
    ("DEMO_DATABASE_URL", "hunter2", "DEMO_DATABASE_URL (or DATABASE_URL): not a database URL (postgresql://… or sqlite:///…)"),
    ("REDIS_URL", "hunter2", "DEMO_BROKER_URL (or INGEST_BROKER_URL, CELERY_BROKER_URL, REDIS_URL): not a broker URL"),
    ("PEERS", "10.0.0.1", "DEMO_PEERS (or PEERS): not valid JSON"),
    ("APP_ENV", "prod", "APP_ENV: Input should be 'development', 'test', 'staging' or 'production'"),
    ("EMBEDDING_QUANTIZATION", "avx3", "EMBEDDING_QUANTIZATION: Input should be 'avx512_vnni', 'avx512', 'avx2' or 'arm64'"),
    ("EMBEDDING_MODEL_PATH", "/no/such/model", "EMBEDDING_MODEL_PATH: no such model folder"),
])
def test_a_bad_value_is_refused_with_one_line_naming_the_variable(monkeypatch, refused_configuration, variable, value, line):
    monkeypatch.setenv(variable, value)
    (printed,) = refused_configuration(DemoSettings)
    assert printed.startswith(f"invalid configuration: {line}")
    assert "hunter2" not in printed


def test_every_problem_gets_its_line(monkeypatch, refused_configuration):
    monkeypatch.setenv("DEMO_GRPC_PORT", "-1")
    monkeypatch.setenv("DEMO_DATABASE_POOL_SIZE", "0")
    assert {line.split(":")[1].strip() for line in refused_configuration(DemoSettings)} == {"DEMO_GRPC_PORT",
                                                                                           "DEMO_DATABASE_POOL_SIZE"}
