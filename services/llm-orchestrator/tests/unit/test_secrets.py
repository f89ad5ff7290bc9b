"""Credentials at rest: sealed with the configured Fernet key (rotation keeps old rows readable),
the embedded default's key file private to its owner, and staging or production refuse to start
without a configured key."""

import stat

import pytest
from cryptography.fernet import Fernet

from llm_orchestrator.secrets import SecretBox, SecretsUnreadable, key_file_key, open_box
from llm_orchestrator.settings import LlmSettings


def test_sealed_values_open_only_with_a_configured_key_and_survive_a_rotation():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = SecretBox(old).seal({"Authorization": "Bearer abc123"})
    assert "abc123" not in sealed
    assert SecretBox(f"{new},{old}").open(sealed) == {"Authorization": "Bearer abc123"}
    with pytest.raises(SecretsUnreadable):
        SecretBox(new).open(sealed)


def test_the_embedded_key_file_is_made_once_and_readable_by_its_owner_only(tmp_path):
    first = open_box(None, tmp_path)
    path = tmp_path / "llm" / "secrets.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_file_key(path) == path.read_text().strip()
    assert open_box(None, tmp_path).open(first.seal({"X-Key": "v"})) == {"X-Key": "v"}


def test_production_needs_a_key_and_a_bad_key_is_refused_without_echoing_it(monkeypatch, refused_configuration):
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("LLM_CACHE_ENABLED", "false")
    monkeypatch.delenv("LLM_SECRETS_KEY", raising=False)
    (line,) = refused_configuration(LlmSettings)
    assert "LLM_SECRETS_KEY: required in production" in line
    monkeypatch.setenv("LLM_SECRETS_KEY", "not-a-key-hunter2")
    (line,) = refused_configuration(LlmSettings)
    assert "not a Fernet key" in line and "hunter2" not in line
    monkeypatch.setenv("LLM_SECRETS_KEY", Fernet.generate_key().decode())
    assert LlmSettings().secrets_key is not None


def test_stdio_commands_and_allowed_networks_are_checked_at_start(monkeypatch, refused_configuration):
    monkeypatch.setenv("LLM_MCP_STDIO_COMMANDS", '{"Bad Name": ["x"]}')
    assert "LLM_MCP_STDIO_COMMANDS" in refused_configuration(LlmSettings)[0]
    monkeypatch.setenv("LLM_MCP_STDIO_COMMANDS", '{"files": ["/usr/bin/mcp-files"]}')
    monkeypatch.setenv("LLM_MCP_ALLOWED_NETWORKS", '["10.0.0.0/33"]')
    assert "LLM_MCP_ALLOWED_NETWORKS" in refused_configuration(LlmSettings)[0]
