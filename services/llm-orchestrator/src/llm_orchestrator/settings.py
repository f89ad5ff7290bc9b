from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from chatbot_common.settings import AlsoFrom, DatabaseSettings, EmbeddingSettings, GrpcServiceSettings
from llm_orchestrator.pricing import ModelPrice
from llm_orchestrator.routing import RouteConfig

# The agent loop's built-in tools (llm_orchestrator.tools), by the names the model calls them.
BUILTIN_TOOLS = ("knowledge_search", "calculator", "sql_query", "http_fetch")


class OpenAICompatibleServer(BaseModel):
    """Any server speaking OpenAI's API: vLLM, Ollama, llama.cpp's server, LM Studio, Azure."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")
    base_url: str
    api_key: SecretStr = SecretStr("none")
    models: list[str] = Field(min_length=1)
    context_window: int = Field(8192, ge=256)
    # Deadlines for this server (none: LLM_FIRST_TOKEN_TIMEOUT_SECONDS, LLM_IDLE_TIMEOUT_SECONDS).
    first_token_timeout_seconds: float | None = Field(None, gt=0)
    idle_timeout_seconds: float | None = Field(None, gt=0)


class LlmSettings(GrpcServiceSettings, DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="LLM_", extra="ignore")
    # The orchestrator's own tables (the MCP servers tenants registered): LLM_DATABASE_URL, else var/llm.db.
    database_file = "llm.db"

    grpc_port: int = Field(50052, ge=0, le=65535)

    default_model: str = "default"
    # alias -> ordered chain of "provider:model"; e.g. {"default": ["openai:gpt-4o-mini", "local:smollm2-135m-instruct"]}
    model_aliases: dict[str, list[str]] = Field(default_factory=dict)

    # A remote provider silent this long before its first token, or between two, is given up
    # for the next in the chain (a silence is not retried on the same provider): the defaults
    # fail over a hung provider within 10 s. The embedded model queues and prefills on the CPU,
    # so it has deadlines of its own.
    first_token_timeout_seconds: float = Field(8.0, gt=0)
    idle_timeout_seconds: float = Field(8.0, gt=0)
    local_first_token_timeout_seconds: float = Field(120.0, gt=0)
    local_idle_timeout_seconds: float = Field(60.0, gt=0)
    max_attempts: int = Field(3, ge=1, le=10)
    backoff_base_seconds: float = Field(0.25, ge=0)
    backoff_max_seconds: float = Field(4.0, ge=0)
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_cooldown_seconds: float = Field(30.0, gt=0)

    local_enabled: bool = True
    local_model_path: Annotated[Path | None, AlsoFrom("LOCAL_MODEL_PATH")] = None
    local_model_name: str = "smollm2-135m-instruct"
    local_n_ctx: int = Field(4096, ge=256)
    local_threads: int | None = Field(None, ge=1)
    local_max_queue: int = Field(64, ge=1)
    local_default_max_tokens: int = Field(512, ge=1)
    # Output filter on every provider's answer: personal data and secrets redacted, Markdown
    # images (and links carrying data) to hosts outside the allow-list neutralised.
    output_redaction: bool = True
    link_allowlist: list[str] = Field(default_factory=list)
    # Text a provider (any provider) streams within this many milliseconds after a delta travels
    # as one delta (the first and the end never wait): every hop downstream (gRPC, SSE, the
    # client) then handles a message per interval instead of one per token. 0: as it comes.
    stream_interval_ms: float = Field(20.0, ge=0, le=1000)

    openai_api_key: Annotated[SecretStr | None, AlsoFrom("OPENAI_API_KEY")] = None
    openai_base_url: Annotated[str | None, AlsoFrom("OPENAI_BASE_URL")] = None
    openai_models: Annotated[list[str], AlsoFrom("OPENAI_MODELS")] = Field(default_factory=lambda: ["gpt-4o-mini"])
    openai_context_window: int = Field(128_000, ge=256)

    anthropic_api_key: Annotated[SecretStr | None, AlsoFrom("ANTHROPIC_API_KEY")] = None
    anthropic_base_url: str | None = None
    anthropic_models: list[str] = Field(default_factory=lambda: ["claude-3-5-haiku-latest"])
    anthropic_context_window: int = Field(200_000, ge=256)

    openai_compatible: list[OpenAICompatibleServer] = Field(default_factory=list)

    # Cost: USD per million tokens by "provider:model" (or "provider:*"), over the defaults in
    # llm_orchestrator.pricing; e.g. {"openai:gpt-4o": {"input": "2.50", "output": "10", "cached_input": "1.25"}}.
    # A model without a price has an unknown cost; the embedded model costs nothing.
    prices: dict[str, ModelPrice] = Field(default_factory=dict)
    # Routing aliases (llm_orchestrator.routing): {"auto": {"tiers": {...}, "default_tier": ..., "rules": [...]}};
    # empty: `auto` chooses between the embedded model (economy) and the default model (standard).
    routes: dict[str, RouteConfig] = Field(default_factory=dict)
    # Semantic cache (llm_orchestrator.cache): in-process, or in Redis when a URL is given.
    cache_enabled: bool = True
    cache_redis_url: Annotated[str, AlsoFrom("REDIS_URL")] = ""
    cache_threshold: float = Field(0.90, gt=0, le=1)
    cache_ttl_seconds: float = Field(86_400, gt=0)
    cache_max_entries: int = Field(5_000, ge=1)  # per scope: a user (or a sharing tenant), model, system prompt and settings
    cache_disabled_tenants: list[str] = Field(default_factory=list)
    # Tenants whose users share exact matches (the very same question) with one another; all
    # others' entries, and every semantic match, stay with the user who asked.
    cache_shared_tenants: list[str] = Field(default_factory=list)
    cache_timeout_seconds: float = Field(0.5, gt=0)
    cache_replay_words: int = Field(4, ge=1, le=100)  # words per delta when a cached answer streams
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    # Agent runs (llm_orchestrator.agents): each run's bounds; a request may only lower them.
    # When one is reached the run ends with it as finish reason and a closing message.
    agent_max_steps: int = Field(8, ge=1, le=100)
    agent_max_seconds: float = Field(120.0, gt=0)
    agent_max_tokens: int = Field(32_000, ge=1)
    agent_max_cost_usd: Decimal | None = Field(None, gt=0)  # none: no cost bound

    # Built-in tools of the agent loop (llm_orchestrator.tools). Enabled ones that need a target
    # are offered only once it is set: sql_query with LLM_TOOLS_SQL_URL, http_fetch with
    # LLM_TOOLS_HTTP_ALLOWED_HOSTS.
    tools_enabled: list[str] = Field(default_factory=lambda: list(BUILTIN_TOOLS))
    # Each call of these waits for a person's approval. By default the tools that reach systems
    # outside the platform (a database, other hosts): what they do cannot be taken back by the
    # model, and a prompt injected into a retrieved page must not be able to trigger them.
    tools_sensitive: list[str] = Field(default_factory=lambda: ["sql_query", "http_fetch"])
    # tool -> roles that may use it ({"sql_query": ["admin"]}); a tool not listed: every role.
    tools_roles: dict[str, list[str]] = Field(default_factory=dict)
    tools_timeout_seconds: float = Field(15.0, gt=0, le=600, description="one call of a built-in tool")
    tools_max_observation_chars: int = Field(8_000, ge=200, le=200_000, description="what the model reads of one result")
    # The knowledge-base tool searches the rag service with the caller's identity.
    rag_target: str = "127.0.0.1:50053"
    tools_search_top_k: int = Field(5, ge=1, le=20)
    # The read-only SQL tool: a PostgreSQL URL of a read-only role (see README), the tables it may
    # read ("schema.table" or "schema.*"), rows returned and each statement's time limit.
    tools_sql_url: SecretStr | None = None
    tools_sql_allowed_tables: list[str] = Field(default_factory=list)
    tools_sql_max_rows: int = Field(100, ge=1, le=10_000)
    tools_sql_statement_timeout_ms: int = Field(5_000, ge=10, le=600_000)
    # The HTTP tool: hosts it may fetch from ("api.example.com", or "*.example.com" for its
    # subdomains), GET and HEAD only, public addresses only unless a network is listed in
    # LLM_TOOLS_HTTP_ALLOWED_NETWORKS (an internal API the operator approves; metadata addresses
    # stay refused), text and JSON answers up to a size, redirects followed (and checked) up to a count.
    tools_http_allowed_hosts: list[str] = Field(default_factory=list)
    tools_http_allowed_networks: list[str] = Field(default_factory=list)
    tools_http_max_bytes: int = Field(1_000_000, ge=1_000, le=50_000_000)
    tools_http_max_redirects: int = Field(3, ge=0, le=10)

    # Secrets kept in the database (MCP servers' credentials) are encrypted with this Fernet key
    # (`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`);
    # several keys, comma-separated, newest first, rotate: the first encrypts, all decrypt.
    # Empty: a key file under var/ made on first start (development only; staging and production refuse).
    secrets_key: SecretStr | None = None
    # MCP servers (llm_orchestrator.mcp). stdio servers run only commands listed here, by name:
    # {"files": ["/usr/local/bin/mcp-files", "--read-only"]}; a tenant admin picks a name, never a command.
    mcp_stdio_commands: dict[str, list[str]] = Field(default_factory=dict)
    # An MCP server's URL must not reach loopback, private, link-local or metadata addresses
    # (checked after DNS resolution, at registration and at each connection) unless it is inside
    # one of these networks, e.g. ["10.20.0.0/16"] for servers inside the cluster.
    mcp_allowed_networks: list[str] = Field(default_factory=list)
    mcp_timeout_seconds: float = Field(30.0, gt=0, le=600, description="default deadline of one MCP tool call")
    mcp_connect_timeout_seconds: float = Field(10.0, gt=0, le=120)
    mcp_idle_seconds: float = Field(120.0, gt=0, description="an unused MCP session is closed after this")
    mcp_max_result_chars: int = Field(20_000, ge=100, description="an MCP tool's answer is cut to this for the model")
    # Each message of an MCP server (a JSON answer, an event of an event stream, a line from a
    # stdio server) is read up to this many bytes, however many a session carries in all; a longer
    # one fails the call it answers (the model is told) and nothing past it is held.
    mcp_max_response_bytes: int = Field(4 * 1024 * 1024, ge=64 * 1024, le=256 * 1024 * 1024)

    @model_validator(mode="after")
    def _something_to_serve(self) -> LlmSettings:
        if not (self.local_enabled or self.openai_api_key or self.openai_base_url or self.anthropic_api_key or self.openai_compatible):
            raise ValueError("no provider configured: set LLM_LOCAL_ENABLED, OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY "
                             "or LLM_OPENAI_COMPATIBLE")
        names = [s.name for s in self.openai_compatible]
        if len(set(names)) != len(names) or {"local", "openai", "anthropic"} & set(names):
            raise ValueError("LLM_OPENAI_COMPATIBLE: server names must be unique and not local, openai or anthropic")
        if self.cache_redis_url and not self.cache_redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("LLM_CACHE_REDIS_URL: not a Redis URL (redis://…, rediss://…, unix://…)")
        if self.cache_enabled and not self.cache_redis_url and self.env in ("staging", "production"):
            # Each replica would keep its own cache, and erasing a user would reach one of them.
            raise ValueError(f"LLM_CACHE_REDIS_URL: the in-process semantic cache is per replica (erasure reaches only one); "
                             f"in {self.env} set LLM_CACHE_REDIS_URL or REDIS_URL, or LLM_CACHE_ENABLED=false")
        if self.secrets_key is None and self.env in ("staging", "production"):
            raise ValueError(f"LLM_SECRETS_KEY: required in {self.env} (the key that encrypts MCP servers' credentials)")
        if self.secrets_key is not None:
            from llm_orchestrator.secrets import check_keys

            check_keys(self.secrets_key.get_secret_value())
        for name, argv in self.mcp_stdio_commands.items():
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name) or not argv or not all(argv):
                raise ValueError("LLM_MCP_STDIO_COMMANDS: names are lower-case words, each with a command line (a list of words)")
        for network in self.mcp_allowed_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError("LLM_MCP_ALLOWED_NETWORKS: not a network (CIDR like 10.0.0.0/8)") from None
        return self

    @model_validator(mode="after")
    def _tools(self) -> LlmSettings:
        for variable, names in (("ENABLED", self.tools_enabled), ("SENSITIVE", self.tools_sensitive), ("ROLES", self.tools_roles)):
            for name in names:
                if name not in BUILTIN_TOOLS:
                    raise ValueError(f"LLM_TOOLS_{variable}: unknown tool {name[:40]!r} (built-in tools: {', '.join(BUILTIN_TOOLS)})")
        for entry in self.tools_sql_allowed_tables:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*\.(\*|[A-Za-z_][A-Za-z0-9_$]*)", entry):
                raise ValueError("LLM_TOOLS_SQL_ALLOWED_TABLES: entries are schema.table or schema.*")
        if self.tools_sql_url is not None and not self.tools_sql_url.get_secret_value().startswith(("postgresql", "postgres://")):
            raise ValueError("LLM_TOOLS_SQL_URL: a PostgreSQL URL (postgresql://…)")
        for host in self.tools_http_allowed_hosts:
            if not re.fullmatch(r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[?[0-9A-Fa-f:.]+\]?", host):
                raise ValueError("LLM_TOOLS_HTTP_ALLOWED_HOSTS: host names (api.example.com, *.example.com) without scheme or path")
        for network in self.tools_http_allowed_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError("LLM_TOOLS_HTTP_ALLOWED_NETWORKS: not a network (CIDR like 10.0.0.0/8)") from None
        return self

    @property
    def openai_enabled(self) -> bool:
        return self.openai_api_key is not None or self.openai_base_url is not None
