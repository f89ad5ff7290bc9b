"""The built-in tools as LLM_TOOLS_* configure them: which are offered (the SQL and HTTP tools
only once they have a target), which need approval (by default those reaching outside
systems), who may use them; a bad value stops the service naming the variable."""

import pytest

from llm_orchestrator.rag_client import GrpcKnowledgeBase
from llm_orchestrator.settings import LlmSettings
from llm_orchestrator.tools.base import ToolContext
from llm_orchestrator.tools.builtin import build_registry

MEMBER = ToolContext(tenant_id="acme", user_id="usr_alice", roles=("member",))
ADMIN = ToolContext(tenant_id="acme", user_id="usr_root", roles=("admin",))


@pytest.fixture
async def knowledge_base():
    kb = GrpcKnowledgeBase.open("127.0.0.1:1", timeout=1)  # never called here
    yield kb
    await kb.aclose()


async def test_defaults_offer_what_needs_no_target(knowledge_base):
    registry = build_registry(LlmSettings(), knowledge_base)
    tools = await registry.for_caller(MEMBER)
    assert [s.name for s in tools.specs()] == ["knowledge_search", "calculator"]
    assert not tools.is_sensitive("knowledge_search") and not tools.is_sensitive("calculator")
    assert [s.name for s in (await build_registry(LlmSettings(), None).for_caller(MEMBER)).specs()] == ["calculator"]


async def test_configured_sql_and_http_are_sensitive_by_default_and_limited_by_role(knowledge_base, monkeypatch):
    monkeypatch.setenv("LLM_TOOLS_SQL_URL", "postgresql://reader@127.0.0.1:5432/warehouse")
    monkeypatch.setenv("LLM_TOOLS_SQL_ALLOWED_TABLES", '["reporting.*", "public.products"]')
    monkeypatch.setenv("LLM_TOOLS_HTTP_ALLOWED_HOSTS", '["api.example.com", "*.docs.example.com"]')
    monkeypatch.setenv("LLM_TOOLS_ROLES", '{"sql_query": ["admin"]}')
    settings = LlmSettings()
    registry = build_registry(settings, knowledge_base)
    member, admin = await registry.for_caller(MEMBER), await registry.for_caller(ADMIN)
    assert [s.name for s in member.specs()] == ["knowledge_search", "calculator", "http_fetch"]
    assert [s.name for s in admin.specs()] == ["knowledge_search", "calculator", "sql_query", "http_fetch"]
    assert admin.is_sensitive("sql_query") and admin.is_sensitive("http_fetch")
    assert "public.products, reporting.*" in admin.get("sql_query").spec.description
    assert "api.example.com, *.docs.example.com" in admin.get("http_fetch").spec.description

    monkeypatch.setenv("LLM_TOOLS_SENSITIVE", "[]")
    monkeypatch.setenv("LLM_TOOLS_ENABLED", '["calculator", "http_fetch"]')
    trusting = await build_registry(LlmSettings(), knowledge_base).for_caller(ADMIN)
    assert [s.name for s in trusting.specs()] == ["calculator", "http_fetch"] and not trusting.is_sensitive("http_fetch")


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("LLM_TOOLS_ENABLED", '["calculator", "shell"]', "LLM_TOOLS_ENABLED: unknown tool 'shell'"),
    ("LLM_TOOLS_SENSITIVE", '["python"]', "LLM_TOOLS_SENSITIVE: unknown tool 'python'"),
    ("LLM_TOOLS_ROLES", '{"rm": ["admin"]}', "LLM_TOOLS_ROLES: unknown tool 'rm'"),
    ("LLM_TOOLS_SQL_ALLOWED_TABLES", '["salaries"]', "LLM_TOOLS_SQL_ALLOWED_TABLES: entries are schema.table or schema.*"),
    ("LLM_TOOLS_SQL_URL", "mysql://root:hunter2@db/x", "LLM_TOOLS_SQL_URL: a PostgreSQL URL"),
    ("LLM_TOOLS_HTTP_ALLOWED_HOSTS", '["https://api.example.com/v1"]', "LLM_TOOLS_HTTP_ALLOWED_HOSTS: host names"),
    ("LLM_TOOLS_HTTP_ALLOWED_NETWORKS", '["10.0.0.0/33"]', "LLM_TOOLS_HTTP_ALLOWED_NETWORKS: not a network"),
])
def test_bad_values_stop_the_service(monkeypatch, refused_configuration, variable, value, says):
    monkeypatch.setenv(variable, value)
    lines = refused_configuration(LlmSettings)
    assert len(lines) == 1 and says in lines[0], lines
    assert "hunter2" not in lines[0]
