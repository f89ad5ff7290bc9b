"""The built-in tools as the operator configured them (LLM_TOOLS_*), in one registry."""

from __future__ import annotations

from llm_orchestrator.settings import LlmSettings
from llm_orchestrator.tools.base import Tool
from llm_orchestrator.tools.calculator import Calculator
from llm_orchestrator.tools.http_fetch import HttpFetch, Resolver
from llm_orchestrator.tools.knowledge import KnowledgeBase, KnowledgeSearch
from llm_orchestrator.tools.registry import ToolRegistry
from llm_orchestrator.tools.sql import SqlQuery


def builtin_tools(settings: LlmSettings, knowledge_base: KnowledgeBase | None, resolver: Resolver | None = None) -> list[Tool]:
    """The enabled tools that have what they need: the knowledge base a rag client, the SQL tool
    a database URL, the HTTP tool at least one allowed host."""
    enabled, sensitive, timeout = set(settings.tools_enabled), set(settings.tools_sensitive), settings.tools_timeout_seconds
    tools: list[Tool] = []
    if "knowledge_search" in enabled and knowledge_base is not None:
        tools.append(KnowledgeSearch(knowledge_base, settings.tools_search_top_k, timeout, "knowledge_search" in sensitive))
    if "calculator" in enabled:
        tools.append(Calculator(min(timeout, 2.0), "calculator" in sensitive))
    if "sql_query" in enabled and settings.tools_sql_url is not None:
        tools.append(SqlQuery(settings.tools_sql_url.get_secret_value(), settings.tools_sql_allowed_tables,
                              settings.tools_sql_max_rows, settings.tools_sql_statement_timeout_ms, timeout,
                              "sql_query" in sensitive))
    if "http_fetch" in enabled and settings.tools_http_allowed_hosts:
        tools.append(HttpFetch(settings.tools_http_allowed_hosts, settings.tools_http_allowed_networks,
                               settings.tools_http_max_bytes, settings.tools_http_max_redirects, timeout,
                               "http_fetch" in sensitive, resolver))
    return tools


def build_registry(settings: LlmSettings, knowledge_base: KnowledgeBase | None, resolver: Resolver | None = None) -> ToolRegistry:
    """The registry a server builds once at start; MCP tools join it through add_provider."""
    return ToolRegistry(builtin_tools(settings, knowledge_base, resolver), settings.tools_roles,
                        max_observation_chars=settings.tools_max_observation_chars)
