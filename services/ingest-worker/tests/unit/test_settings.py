"""The ingest worker's settings: the blob store and broker it shares with the gateway are read
from the same variables, and a bad value stops the worker at start with the variable named."""

from pathlib import Path

from ingest_worker.settings import IngestSettings


def test_the_shared_blob_store_and_broker_are_read(monkeypatch, tmp_path):
    for name in ("INGEST_BLOB_STORE", "INGEST_BROKER_URL", "CELERY_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INGEST_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("BLOB_STORE", "/data/blobs")
    monkeypatch.setenv("REDIS_URL", "redis://broker:6379/1")
    settings = IngestSettings()
    assert settings.blob_store_path() == Path("/data/blobs") and settings.broker_url == "redis://broker:6379/1"
    monkeypatch.setenv("INGEST_BLOB_STORE", "")  # its own name, set empty: the embedded default
    assert IngestSettings().blob_store_path() == tmp_path / "blobs"


def test_a_bad_value_stops_the_worker_naming_the_variable(monkeypatch, refused_configuration):
    monkeypatch.setenv("INGEST_CONCURRENCY", "0")
    assert refused_configuration(IngestSettings) == [
        "invalid configuration: INGEST_CONCURRENCY: Input should be greater than or equal to 1"]
    monkeypatch.setenv("INGEST_CONCURRENCY", "4")
    monkeypatch.setenv("INGEST_CHUNK_OVERLAP_CHARS", "900")
    assert refused_configuration(IngestSettings) == [
        "invalid configuration: INGEST_CHUNK_OVERLAP_CHARS must be less than INGEST_CHUNK_TARGET_CHARS"]
