from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from chatbot_common.settings import AlsoFrom, BlobStoreSettings, BrokerSettings, DatabaseSettings

OIDC_CALLBACK_PATH = "/api/v1/auth/oidc/callback"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class GatewaySettings(DatabaseSettings, BlobStoreSettings, BrokerSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")
    database_file = "gateway.db"

    port: Annotated[int, AlsoFrom("APP_PORT")] = Field(8000, ge=0, le=65535)

    # Ed25519 signing keys (<kid>.pem), newest signs, all verify. Empty: var/gateway/jwt-keys,
    # generated on first start (development only; elsewhere mount a Secret with the keys).
    jwt_keys_dir: Annotated[Path | None, AlsoFrom("JWT_KEYS_DIR")] = None
    jwt_issuer: str = "chatbot-gateway"
    jwt_audience: str = "chatbot-api"
    access_token_ttl_seconds: Annotated[int, AlsoFrom("JWT_EXPIRY")] = Field(900, ge=30)
    refresh_token_ttl_seconds: Annotated[int, AlsoFrom("JWT_REFRESH_EXPIRY")] = Field(604_800, ge=60)
    password_min_length: int = Field(8, ge=8)
    # Self-service sign-up: open (anyone; naming an organisation creates a tenant with the
    # registrant as its admin) or closed (only tenant admins add users).
    registration: Literal["open", "closed"] = "open"
    # A session's longest lifetime from its sign-in, however often its refresh token rotates;
    # then it ends (the cookie is cleared) and the person signs in again.
    session_max_days: float = Field(30.0, gt=0, le=3650)
    # Failed sign-ins per account (per e-mail address, whether or not an account has it, so the
    # answer never tells): after this many within the window, every sign-in of that address is
    # refused (429, Retry-After) until the window ends, from any client address. 0: no limit.
    login_failures_per_account: int = Field(10, ge=0)
    # How long an invitation's link works (an admin may choose a shorter or longer one per invitation).
    invitation_ttl_days: float = Field(7.0, gt=0, le=90)
    # Where people reach the app (links in invitations), e.g. https://chat.example.com. Empty: the
    # address the admin's request came to.
    public_url: Annotated[str, AlsoFrom("PUBLIC_URL")] = Field("", pattern=r"^(https?://[^/?#\s]+(/[^?#\s]*)?)?$")
    login_failure_window_seconds: float = Field(900, gt=0)
    # Password hashing (argon2): hashes at once (0: half the CPUs, at least 1), how many more may
    # wait (beyond: 429 with Retry-After), and the nice value of the hashing threads (0: none), so
    # that a sign-in storm slows sign-ins rather than chat.
    password_hash_workers: int = Field(0, ge=0, le=64)
    password_hash_queue: int = Field(32, ge=0, le=10_000)
    password_hash_nice: int = Field(10, ge=0, le=19)
    # Audit entries the database did not take at once wait here (JSON lines) and are written
    # later. Empty: var/gateway/audit-outbox. Give it a persistent, writable volume in production.
    audit_outbox_dir: Path | None = None
    audit_outbox_retry_seconds: float = Field(5.0, gt=0)
    # How long a replica trusts its cached view of an account or API key (disable, logout,
    # revocation and role changes reach other replicas within this; this replica at once).
    account_recheck_seconds: float = Field(2.0, ge=0.0, le=60.0)

    # An external OpenID Connect issuer whose access tokens are accepted beside ours (empty: none).
    oidc_issuer: str = ""
    oidc_jwks_url: str = ""
    oidc_audience: str = ""
    oidc_algorithms: list[str] = Field(default_factory=lambda: ["RS256"])
    oidc_tenant_claim: str = ""  # a claim naming the tenant (its id here); empty or unknown: oidc_default_tenant
    oidc_role_claim: str = ""  # a claim naming the role (admin/member/viewer) given on first sign-in
    oidc_default_tenant: str = "default"
    oidc_jwks_cooldown_seconds: float = Field(30.0, ge=0)  # least time between key-set fetches for unknown kids
    # Who the issuer may create an account for on first sign-in (browser or bearer token): the
    # `email_verified` claim must be true (absent: refused unless this trusts the issuer to verify
    # every address itself; false is always refused), and the address's domain one of these
    # (empty: any). With registration closed, only an account linked before or a pending invitation.
    oidc_trust_unverified_email: bool = False
    oidc_allowed_domains: list[str] = Field(default_factory=list)
    # Browser sign-in through that issuer (the authorization-code flow with PKCE), on when a client
    # id is set. The redirect URI is this gateway's /api/v1/auth/oidc/callback as the browser
    # reaches it, registered with the issuer; no client secret: a public client (PKCE alone).
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr | None = None
    oidc_token_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    oidc_redirect_uri: str = ""
    oidc_scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    oidc_display_name: str = Field("", max_length=60)  # the button's "Sign in with <name>"; empty: the issuer's host
    # Empty: <issuer>/.well-known/openid-configuration (whose `issuer` must be the configured one).
    oidc_discovery_url: str = ""
    # How long a started sign-in may take (state, nonce and PKCE verifier are kept this long, used once).
    oidc_login_ttl_seconds: int = Field(600, ge=5, le=3600)
    oidc_http_timeout_seconds: float = Field(10.0, gt=0, le=60)

    # Limits. A Redis URL shares them across replicas; empty: held in this process (one replica).
    limits_redis_url: Annotated[str, AlsoFrom("LIMITS_REDIS_URL", "REDIS_URL")] = ""
    limits_redis_timeout_seconds: float = Field(0.5, gt=0)
    rate_limit_requests: Annotated[int, AlsoFrom("RATE_LIMIT_REQUESTS")] = Field(100, ge=0)
    rate_limit_window: Annotated[float, AlsoFrom("RATE_LIMIT_WINDOW")] = Field(60, gt=0)
    rate_limit_key_requests: int = Field(600, ge=0)  # per API key per window
    rate_limit_anonymous_requests: int = Field(30, ge=0)  # per client address per window (sign-in, sign-up)
    max_concurrent_streams: int = Field(50, ge=0)  # per user
    user_tokens_per_minute: int = Field(200_000, ge=0)  # 0: no limit
    tenant_tokens_per_minute: int = Field(2_000_000, ge=0)
    user_daily_token_budget: int = Field(0, ge=0)
    user_monthly_token_budget: int = Field(0, ge=0)
    tenant_daily_token_budget: int = Field(0, ge=0)
    tenant_monthly_token_budget: int = Field(0, ge=0)
    completion_reserve_tokens: int = Field(512, ge=1)  # charged up front when a request names no max_tokens
    rate_limit_on_store_failure: Literal["open", "closed"] = "open"
    budget_on_store_failure: Literal["open", "closed"] = "closed"

    conversation_target: str = "127.0.0.1:50051"
    llm_target: str = "127.0.0.1:50052"
    rag_target: str = "127.0.0.1:50053"
    ingest_target: str = "127.0.0.1:50054"
    call_timeout_seconds: float = Field(10.0, gt=0)
    # Registering, changing or refreshing an MCP server waits for its tool list (the orchestrator's
    # LLM_MCP_CONNECT_TIMEOUT_SECONDS and the server's own timeout come first).
    mcp_discovery_timeout_seconds: float = Field(45.0, gt=0)
    chat_timeout_seconds: float = Field(310.0, gt=0)
    heartbeat_seconds: float = Field(15.0, gt=0)
    # Streamed answers are kept for clients that come back (reload, another tab, another replica):
    # in Redis Streams when a URL is set (shared by every replica), else in this process; an
    # answer's events are forgotten this long after it ended (the stored message stays).
    answer_buffer_redis_url: Annotated[str, AlsoFrom("ANSWER_BUFFER_REDIS_URL", "REDIS_URL")] = ""
    answer_buffer_ttl_seconds: float = Field(60.0, gt=0)

    max_message_chars: int = Field(32_000, ge=1)
    max_embedding_inputs: int = Field(256, ge=1, le=2048)  # texts per /v1/embeddings request (each up to max_message_chars)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    # Uploads: bytes per file, per request (several files), files per request.
    max_upload_bytes: Annotated[int, AlsoFrom("MAX_UPLOAD_BYTES")] = Field(50 * 1024 * 1024, ge=1)
    max_upload_request_bytes: int = Field(200 * 1024 * 1024, ge=1024)
    max_upload_files: int = Field(20, ge=1, le=1000)
    # Batch ingestion from upload events: files under this directory, events signed with this secret.
    ingest_dir: Path | None = None
    upload_event_secret: Annotated[SecretStr | None, AlsoFrom("UPLOAD_EVENT_SECRET")] = None
    upload_event_max_age_seconds: int = Field(300, ge=1)
    upload_event_owner_email: str = ""  # whose documents event-ingested files become
    # Addresses of reverse proxies whose X-Forwarded-For/-Proto are believed. Empty: none, the
    # client is the socket peer (a client cannot pick its own identity with a header).
    trusted_proxies: Annotated[list[str], AlsoFrom("TRUSTED_PROXIES")] = Field(default_factory=list)
    # Strict-Transport-Security: auto (on HTTPS requests), always (behind a TLS-terminating proxy), off.
    hsts: Literal["auto", "always", "off"] = "auto"
    cors_origins: Annotated[list[str], AlsoFrom("CORS_ORIGINS")] = Field(default_factory=list)
    # The built web app (`make web`). Empty: services/gateway/web/dist beside this package's sources.
    web_dir: Path | None = None

    @model_validator(mode="after")
    def _defaults(self) -> GatewaySettings:
        if self.oidc_issuer and not (self.oidc_jwks_url and self.oidc_audience):
            raise ValueError("GATEWAY_OIDC_ISSUER needs GATEWAY_OIDC_JWKS_URL and GATEWAY_OIDC_AUDIENCE")
        if self.oidc_client_id:
            self._check_oidc_sign_in()
        if self.jwt_keys_dir is None:
            if self.env in ("staging", "production"):
                raise ValueError("GATEWAY_JWT_KEYS_DIR is required outside development (a mounted Secret of Ed25519 keys)")
            self.jwt_keys_dir = self.var_dir / "gateway" / "jwt-keys"
        if self.audit_outbox_dir is None:
            self.audit_outbox_dir = self.var_dir / "gateway" / "audit-outbox"
        if self.web_dir is None:
            self.web_dir = Path(__file__).resolve().parents[2] / "web" / "dist"
        return self

    def _check_oidc_sign_in(self) -> None:
        if not self.oidc_issuer:
            raise ValueError("GATEWAY_OIDC_CLIENT_ID needs GATEWAY_OIDC_ISSUER (with its JWKS URL and audience)")
        redirect = urlsplit(self.oidc_redirect_uri)
        if redirect.scheme not in ("https", "http") or not redirect.hostname or redirect.query or redirect.fragment:
            raise ValueError("GATEWAY_OIDC_REDIRECT_URI must be an absolute http(s) URL without query or fragment")
        if redirect.scheme == "http" and redirect.hostname not in _LOOPBACK:
            raise ValueError("GATEWAY_OIDC_REDIRECT_URI must use https (plain http only on a loopback address)")
        if not redirect.path.endswith(OIDC_CALLBACK_PATH):
            raise ValueError(f"GATEWAY_OIDC_REDIRECT_URI must end with {OIDC_CALLBACK_PATH} (this gateway's callback)")
        if "openid" not in self.oidc_scopes:
            raise ValueError("GATEWAY_OIDC_SCOPES must include openid")
        if any(not scope or any(ch.isspace() or ch in '"\\' for ch in scope) for scope in self.oidc_scopes):
            raise ValueError("GATEWAY_OIDC_SCOPES: each scope is one word")
        for name, url in (("GATEWAY_OIDC_ISSUER", self.oidc_issuer), ("GATEWAY_OIDC_DISCOVERY_URL", self.oidc_discovery_url)):
            if url and urlsplit(url).scheme not in ("https", "http"):
                raise ValueError(f"{name} must be an http(s) URL")
        if self.oidc_client_secret is not None and not self.oidc_client_secret.get_secret_value():
            self.oidc_client_secret = None

    def oidc_sign_in_enabled(self) -> bool:
        return bool(self.oidc_client_id)

    def key_ring_generates(self) -> bool:
        """Only the embedded default creates its first key; deployments bring theirs."""
        return self.env not in ("staging", "production")
