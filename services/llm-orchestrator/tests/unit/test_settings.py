"""The llm-orchestrator's settings: the providers' usual variable names are read, and a bad
value or a fleet without any provider stops it at start with the variables named."""

from llm_orchestrator.settings import LlmSettings


def test_the_providers_usual_variables_are_read(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_MODELS", '["gpt-4o", "gpt-4o-mini"]')
    settings = LlmSettings()
    assert settings.openai_enabled and settings.openai_models == ["gpt-4o", "gpt-4o-mini"]


def test_a_bad_value_stops_the_service_naming_the_variable(monkeypatch, refused_configuration):
    monkeypatch.setenv("LLM_MODEL_ALIASES", "default=local")
    assert refused_configuration(LlmSettings) == ["invalid configuration: LLM_MODEL_ALIASES: not valid JSON"]


def test_no_provider_at_all_is_refused(monkeypatch, refused_configuration):
    for name in ("OPENAI_API_KEY", "LLM_OPENAI_API_KEY", "OPENAI_BASE_URL", "LLM_OPENAI_BASE_URL", "ANTHROPIC_API_KEY",
                 "LLM_ANTHROPIC_API_KEY", "LLM_OPENAI_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LLM_LOCAL_ENABLED", "false")
    (line,) = refused_configuration(LlmSettings)
    assert line.startswith("invalid configuration: no provider configured: set LLM_LOCAL_ENABLED")
