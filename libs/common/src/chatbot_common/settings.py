"""The settings base every service extends: one class per service, one env prefix each."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error"]


def repo_var_dir() -> Path:
    """Where embedded state (SQLite files, secrets, queues) lives unless configured."""
    return Path.cwd() / "var"


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set `model_config` with their own env prefix."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None)

    env: Literal["development", "test", "staging", "production"] = Field(
        "development", validation_alias="APP_ENV"
    )
    log_level: LogLevel = "info"
    log_json: bool = True
    host: str = "127.0.0.1"
    metrics_port: int = Field(0, ge=0, le=65535, description="0 disables the metrics listener")
    shutdown_grace_seconds: float = Field(10.0, ge=0)
    var_dir: Path = Field(default_factory=repo_var_dir)
    # Spans as JSON lines in this file (development, tests); OTLP goes by OTEL_EXPORTER_OTLP_ENDPOINT.
    traces_file: Path | None = None


class GrpcServiceSettings(ServiceSettings):
    grpc_port: int = Field(0, ge=0, le=65535)
    grpc_max_concurrent_rpcs: int | None = None


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"
