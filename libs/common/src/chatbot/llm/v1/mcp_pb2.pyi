from chatbot.common.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class McpTool(_message.Message):
    __slots__ = ("name", "tool_name", "description", "input_schema_json", "allowed_roles", "sensitive", "available")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TOOL_NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ROLES_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    tool_name: str
    description: str
    input_schema_json: str
    allowed_roles: _containers.RepeatedScalarFieldContainer[str]
    sensitive: bool
    available: bool
    def __init__(self, name: _Optional[str] = ..., tool_name: _Optional[str] = ..., description: _Optional[str] = ..., input_schema_json: _Optional[str] = ..., allowed_roles: _Optional[_Iterable[str]] = ..., sensitive: _Optional[bool] = ..., available: _Optional[bool] = ...) -> None: ...

class McpServer(_message.Message):
    __slots__ = ("id", "name", "transport", "url", "command", "credential_headers", "enabled", "timeout_seconds", "tools", "last_error", "tools_refreshed_at", "created_at", "updated_at", "created_by")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_HEADERS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    TOOLS_REFRESHED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    transport: str
    url: str
    command: str
    credential_headers: _containers.RepeatedScalarFieldContainer[str]
    enabled: bool
    timeout_seconds: float
    tools: _containers.RepeatedCompositeFieldContainer[McpTool]
    last_error: str
    tools_refreshed_at: str
    created_at: str
    updated_at: str
    created_by: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., transport: _Optional[str] = ..., url: _Optional[str] = ..., command: _Optional[str] = ..., credential_headers: _Optional[_Iterable[str]] = ..., enabled: _Optional[bool] = ..., timeout_seconds: _Optional[float] = ..., tools: _Optional[_Iterable[_Union[McpTool, _Mapping]]] = ..., last_error: _Optional[str] = ..., tools_refreshed_at: _Optional[str] = ..., created_at: _Optional[str] = ..., updated_at: _Optional[str] = ..., created_by: _Optional[str] = ...) -> None: ...

class McpServerRef(_message.Message):
    __slots__ = ("caller", "server_id")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    server_id: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., server_id: _Optional[str] = ...) -> None: ...

class ListMcpServersRequest(_message.Message):
    __slots__ = ("caller",)
    CALLER_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ...) -> None: ...

class ListMcpServersResponse(_message.Message):
    __slots__ = ("servers",)
    SERVERS_FIELD_NUMBER: _ClassVar[int]
    servers: _containers.RepeatedCompositeFieldContainer[McpServer]
    def __init__(self, servers: _Optional[_Iterable[_Union[McpServer, _Mapping]]] = ...) -> None: ...

class CreateMcpServerRequest(_message.Message):
    __slots__ = ("caller", "name", "transport", "url", "command", "credential_headers", "timeout_seconds", "enabled")
    class CredentialHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CALLER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_HEADERS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    name: str
    transport: str
    url: str
    command: str
    credential_headers: _containers.ScalarMap[str, str]
    timeout_seconds: float
    enabled: bool
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., name: _Optional[str] = ..., transport: _Optional[str] = ..., url: _Optional[str] = ..., command: _Optional[str] = ..., credential_headers: _Optional[_Mapping[str, str]] = ..., timeout_seconds: _Optional[float] = ..., enabled: _Optional[bool] = ...) -> None: ...

class UpdateMcpServerRequest(_message.Message):
    __slots__ = ("caller", "server_id", "name", "url", "replace_credentials", "credential_headers", "timeout_seconds", "enabled")
    class CredentialHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CALLER_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    REPLACE_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_HEADERS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    server_id: str
    name: str
    url: str
    replace_credentials: bool
    credential_headers: _containers.ScalarMap[str, str]
    timeout_seconds: float
    enabled: bool
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., server_id: _Optional[str] = ..., name: _Optional[str] = ..., url: _Optional[str] = ..., replace_credentials: _Optional[bool] = ..., credential_headers: _Optional[_Mapping[str, str]] = ..., timeout_seconds: _Optional[float] = ..., enabled: _Optional[bool] = ...) -> None: ...

class DeleteMcpServerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class McpToolGrant(_message.Message):
    __slots__ = ("name", "allowed_roles", "sensitive")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_ROLES_FIELD_NUMBER: _ClassVar[int]
    SENSITIVE_FIELD_NUMBER: _ClassVar[int]
    name: str
    allowed_roles: _containers.RepeatedScalarFieldContainer[str]
    sensitive: bool
    def __init__(self, name: _Optional[str] = ..., allowed_roles: _Optional[_Iterable[str]] = ..., sensitive: _Optional[bool] = ...) -> None: ...

class SetMcpToolGrantsRequest(_message.Message):
    __slots__ = ("caller", "server_id", "grants")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    SERVER_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    server_id: str
    grants: _containers.RepeatedCompositeFieldContainer[McpToolGrant]
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., server_id: _Optional[str] = ..., grants: _Optional[_Iterable[_Union[McpToolGrant, _Mapping]]] = ...) -> None: ...
