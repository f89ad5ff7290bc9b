"""The conversation service's settings: its tables in SQLite under var/ unless a URL is given,
and a bad value stops it at start with the variable named."""

from chatbot_common.settings import sqlite_url
from conversation.settings import ConversationSettings


def test_the_database_is_a_sqlite_file_under_var_unless_configured(monkeypatch, tmp_path):
    for name in ("CONVERSATION_DATABASE_URL", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONVERSATION_VAR_DIR", str(tmp_path))
    assert ConversationSettings().database_url == sqlite_url(tmp_path / "conversation.db")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/chat")
    assert ConversationSettings().database_url == "postgresql://db/chat"


def test_a_bad_value_stops_the_service_naming_the_variable(monkeypatch, refused_configuration):
    monkeypatch.setenv("CONVERSATION_RAG_CONTEXT_FRACTION", "1.5")
    assert refused_configuration(ConversationSettings) == [
        "invalid configuration: CONVERSATION_RAG_CONTEXT_FRACTION: Input should be less than or equal to 0.9"]


def test_a_resume_lease_shorter_than_a_run_is_refused(monkeypatch, refused_configuration):
    """A run still under way would be ended as interrupted by another replica's sweep."""
    monkeypatch.setenv("CONVERSATION_LLM_TIMEOUT_SECONDS", "600")
    monkeypatch.setenv("CONVERSATION_RUN_RESUME_LEASE_SECONDS", "300")
    (line,) = refused_configuration(ConversationSettings)
    assert "run_resume_lease_seconds must be longer than llm_timeout_seconds" in line
    monkeypatch.setenv("CONVERSATION_RUN_RESUME_LEASE_SECONDS", "601")
    assert ConversationSettings().run_resume_lease_seconds == 601
