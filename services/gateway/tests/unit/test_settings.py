"""The gateway's settings: the variables the Helm chart and tools/fleet.py set are read, and a
bad value stops the gateway at start with the variable named."""

from pathlib import Path

from gateway.settings import GatewaySettings


def test_the_variables_deployments_set_are_read(monkeypatch, tmp_path):
    monkeypatch.delenv("GATEWAY_BROKER_URL", raising=False)
    for name, value in {"APP_ENV": "production", "GATEWAY_VAR_DIR": str(tmp_path), "GATEWAY_PORT": "8123",
                        "GATEWAY_BLOB_STORE": "/data/blobs", "GATEWAY_JWT_KEYS_DIR": "/etc/chatbot/jwt-keys",
                        "GATEWAY_AUDIT_OUTBOX_DIR": "/data/audit-outbox", "DATABASE_URL": "postgresql://db/chat",
                        "INGEST_BROKER_URL": "redis://broker:6379/1", "TRUSTED_PROXIES": '["10.0.0.1"]'}.items():
        monkeypatch.setenv(name, value)
    settings = GatewaySettings()
    assert (settings.env, settings.var_dir, settings.port) == ("production", tmp_path, 8123)
    assert settings.blob_store_path() == Path("/data/blobs") and settings.jwt_keys_dir == Path("/etc/chatbot/jwt-keys")
    assert settings.audit_outbox_dir == Path("/data/audit-outbox") and settings.database_url == "postgresql://db/chat"
    assert settings.broker_url == "redis://broker:6379/1" and settings.trusted_proxies == ["10.0.0.1"]


def test_a_bad_value_stops_the_gateway_naming_the_variable(monkeypatch, refused_configuration):
    monkeypatch.setenv("GATEWAY_DATABASE_URL", "mysql://db/chat")
    assert refused_configuration(GatewaySettings) == [
        "invalid configuration: GATEWAY_DATABASE_URL (or DATABASE_URL): unsupported database backend 'mysql': use sqlite or postgresql"]
    monkeypatch.delenv("GATEWAY_DATABASE_URL")
    monkeypatch.delenv("GATEWAY_JWT_KEYS_DIR", raising=False)
    monkeypatch.setenv("APP_ENV", "production")
    assert refused_configuration(GatewaySettings) == [
        "invalid configuration: GATEWAY_JWT_KEYS_DIR is required outside development (a mounted Secret of Ed25519 keys)"]
