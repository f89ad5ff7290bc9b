import datetime

from chatbot.common.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Conversation(_message.Message):
    __slots__ = ("id", "user_id", "title", "model", "provider", "system_prompt", "message_count", "created_at", "updated_at", "current_message_id", "summary", "pinned", "archived", "title_source")
    ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    TITLE_SOURCE_FIELD_NUMBER: _ClassVar[int]
    id: str
    user_id: str
    title: str
    model: str
    provider: str
    system_prompt: str
    message_count: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    current_message_id: str
    summary: ConversationSummary
    pinned: bool
    archived: bool
    title_source: str
    def __init__(self, id: _Optional[str] = ..., user_id: _Optional[str] = ..., title: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., system_prompt: _Optional[str] = ..., message_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., current_message_id: _Optional[str] = ..., summary: _Optional[_Union[ConversationSummary, _Mapping]] = ..., pinned: _Optional[bool] = ..., archived: _Optional[bool] = ..., title_source: _Optional[str] = ...) -> None: ...

class ConversationSummary(_message.Message):
    __slots__ = ("text", "through_message_id", "messages", "updated_at", "model")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    THROUGH_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    text: str
    through_message_id: str
    messages: int
    updated_at: _timestamp_pb2.Timestamp
    model: str
    def __init__(self, text: _Optional[str] = ..., through_message_id: _Optional[str] = ..., messages: _Optional[int] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., model: _Optional[str] = ...) -> None: ...

class Message(_message.Message):
    __slots__ = ("id", "conversation_id", "role", "content", "model", "provider", "finish_reason", "usage", "latency_ms", "ttft_ms", "error_code", "error_message", "citations", "created_at", "feedback", "parent_id", "served", "steps", "pending_approval")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FEEDBACK_FIELD_NUMBER: _ClassVar[int]
    PARENT_ID_FIELD_NUMBER: _ClassVar[int]
    SERVED_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    PENDING_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    id: str
    conversation_id: str
    role: str
    content: str
    model: str
    provider: str
    finish_reason: str
    usage: _common_pb2.Usage
    latency_ms: int
    ttft_ms: int
    error_code: str
    error_message: str
    citations: _containers.RepeatedCompositeFieldContainer[_common_pb2.Citation]
    created_at: _timestamp_pb2.Timestamp
    feedback: Feedback
    parent_id: str
    served: _common_pb2.Served
    steps: str
    pending_approval: PendingApproval
    def __init__(self, id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., role: _Optional[str] = ..., content: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., finish_reason: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., latency_ms: _Optional[int] = ..., ttft_ms: _Optional[int] = ..., error_code: _Optional[str] = ..., error_message: _Optional[str] = ..., citations: _Optional[_Iterable[_Union[_common_pb2.Citation, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., feedback: _Optional[_Union[Feedback, _Mapping]] = ..., parent_id: _Optional[str] = ..., served: _Optional[_Union[_common_pb2.Served, _Mapping]] = ..., steps: _Optional[str] = ..., pending_approval: _Optional[_Union[PendingApproval, _Mapping]] = ...) -> None: ...

class PendingApproval(_message.Message):
    __slots__ = ("calls", "expires_at")
    CALLS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[ToolCallEvent]
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, calls: _Optional[_Iterable[_Union[ToolCallEvent, _Mapping]]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ToolCallEvent(_message.Message):
    __slots__ = ("call_id", "name", "arguments", "step", "needs_approval")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    NEEDS_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    name: str
    arguments: str
    step: int
    needs_approval: bool
    def __init__(self, call_id: _Optional[str] = ..., name: _Optional[str] = ..., arguments: _Optional[str] = ..., step: _Optional[int] = ..., needs_approval: _Optional[bool] = ...) -> None: ...

class ToolResultEvent(_message.Message):
    __slots__ = ("call_id", "name", "status", "summary", "step")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    name: str
    status: str
    summary: str
    step: int
    def __init__(self, call_id: _Optional[str] = ..., name: _Optional[str] = ..., status: _Optional[str] = ..., summary: _Optional[str] = ..., step: _Optional[int] = ...) -> None: ...

class ApprovalRequired(_message.Message):
    __slots__ = ("run_id", "calls", "expires_at")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    calls: _containers.RepeatedCompositeFieldContainer[ToolCallEvent]
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, run_id: _Optional[str] = ..., calls: _Optional[_Iterable[_Union[ToolCallEvent, _Mapping]]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ToolDecision(_message.Message):
    __slots__ = ("call_id", "action", "arguments")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    ARGUMENTS_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    action: str
    arguments: str
    def __init__(self, call_id: _Optional[str] = ..., action: _Optional[str] = ..., arguments: _Optional[str] = ...) -> None: ...

class ResumeRunRequest(_message.Message):
    __slots__ = ("caller", "run_id", "decisions", "request_id")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    run_id: str
    decisions: _containers.RepeatedCompositeFieldContainer[ToolDecision]
    request_id: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., run_id: _Optional[str] = ..., decisions: _Optional[_Iterable[_Union[ToolDecision, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class Feedback(_message.Message):
    __slots__ = ("rating", "comment", "at")
    RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    rating: int
    comment: str
    at: _timestamp_pb2.Timestamp
    def __init__(self, rating: _Optional[int] = ..., comment: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateConversationRequest(_message.Message):
    __slots__ = ("caller", "title", "model", "provider", "system_prompt")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    title: str
    model: str
    provider: str
    system_prompt: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., title: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., system_prompt: _Optional[str] = ...) -> None: ...

class GetConversationRequest(_message.Message):
    __slots__ = ("caller", "conversation_id")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    conversation_id: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., conversation_id: _Optional[str] = ...) -> None: ...

class ListConversationsRequest(_message.Message):
    __slots__ = ("caller", "page", "sort", "order", "query", "archived")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    SORT_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    page: _common_pb2.PageRequest
    sort: str
    order: str
    query: str
    archived: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., sort: _Optional[str] = ..., order: _Optional[str] = ..., query: _Optional[str] = ..., archived: _Optional[str] = ...) -> None: ...

class ListConversationsResponse(_message.Message):
    __slots__ = ("conversations", "page")
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    conversations: _containers.RepeatedCompositeFieldContainer[Conversation]
    page: _common_pb2.PageInfo
    def __init__(self, conversations: _Optional[_Iterable[_Union[Conversation, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageInfo, _Mapping]] = ...) -> None: ...

class DeleteConversationRequest(_message.Message):
    __slots__ = ("caller", "conversation_id")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    conversation_id: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., conversation_id: _Optional[str] = ...) -> None: ...

class DeleteConversationResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateConversationRequest(_message.Message):
    __slots__ = ("caller", "conversation_id", "title", "current_message_id", "pinned", "archived")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    ARCHIVED_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    conversation_id: str
    title: str
    current_message_id: str
    pinned: bool
    archived: bool
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., conversation_id: _Optional[str] = ..., title: _Optional[str] = ..., current_message_id: _Optional[str] = ..., pinned: _Optional[bool] = ..., archived: _Optional[bool] = ...) -> None: ...

class SetFeedbackRequest(_message.Message):
    __slots__ = ("caller", "conversation_id", "message_id", "rating", "comment")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    conversation_id: str
    message_id: str
    rating: int
    comment: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., conversation_id: _Optional[str] = ..., message_id: _Optional[str] = ..., rating: _Optional[int] = ..., comment: _Optional[str] = ...) -> None: ...

class ListMessagesRequest(_message.Message):
    __slots__ = ("caller", "conversation_id", "page", "current_branch")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_BRANCH_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    conversation_id: str
    page: _common_pb2.PageRequest
    current_branch: bool
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., conversation_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., current_branch: _Optional[bool] = ...) -> None: ...

class ListMessagesResponse(_message.Message):
    __slots__ = ("messages", "page")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    page: _common_pb2.PageInfo
    def __init__(self, messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageInfo, _Mapping]] = ...) -> None: ...

class ChatRequest(_message.Message):
    __slots__ = ("caller", "conversation_id", "message", "model", "provider", "temperature", "max_tokens", "use_rag", "request_id", "system_prompt", "injection_policy", "edit_message_id", "regenerate_message_id", "cache", "quality", "budget_left", "tools")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    USE_RAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    INJECTION_POLICY_FIELD_NUMBER: _ClassVar[int]
    EDIT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    REGENERATE_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CACHE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    BUDGET_LEFT_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    conversation_id: str
    message: str
    model: str
    provider: str
    temperature: float
    max_tokens: int
    use_rag: bool
    request_id: str
    system_prompt: str
    injection_policy: str
    edit_message_id: str
    regenerate_message_id: str
    cache: bool
    quality: str
    budget_left: float
    tools: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., conversation_id: _Optional[str] = ..., message: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., temperature: _Optional[float] = ..., max_tokens: _Optional[int] = ..., use_rag: _Optional[bool] = ..., request_id: _Optional[str] = ..., system_prompt: _Optional[str] = ..., injection_policy: _Optional[str] = ..., edit_message_id: _Optional[str] = ..., regenerate_message_id: _Optional[str] = ..., cache: _Optional[bool] = ..., quality: _Optional[str] = ..., budget_left: _Optional[float] = ..., tools: _Optional[_Iterable[str]] = ...) -> None: ...

class TurnStarted(_message.Message):
    __slots__ = ("conversation_id", "user_message_id", "assistant_message_id")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ASSISTANT_MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    user_message_id: str
    assistant_message_id: str
    def __init__(self, conversation_id: _Optional[str] = ..., user_message_id: _Optional[str] = ..., assistant_message_id: _Optional[str] = ...) -> None: ...

class TokenDelta(_message.Message):
    __slots__ = ("text", "index")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    text: str
    index: int
    def __init__(self, text: _Optional[str] = ..., index: _Optional[int] = ...) -> None: ...

class CitationList(_message.Message):
    __slots__ = ("citations",)
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    citations: _containers.RepeatedCompositeFieldContainer[_common_pb2.Citation]
    def __init__(self, citations: _Optional[_Iterable[_Union[_common_pb2.Citation, _Mapping]]] = ...) -> None: ...

class TurnCompleted(_message.Message):
    __slots__ = ("message_id", "conversation_id", "finish_reason", "usage", "provider", "model", "latency_ms", "ttft_ms", "created_at", "served")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TTFT_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SERVED_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    conversation_id: str
    finish_reason: str
    usage: _common_pb2.Usage
    provider: str
    model: str
    latency_ms: int
    ttft_ms: int
    created_at: _timestamp_pb2.Timestamp
    served: _common_pb2.Served
    def __init__(self, message_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., finish_reason: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., latency_ms: _Optional[int] = ..., ttft_ms: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., served: _Optional[_Union[_common_pb2.Served, _Mapping]] = ...) -> None: ...

class ChatEvent(_message.Message):
    __slots__ = ("started", "model", "citations", "token", "completed", "guardrail", "tool_call", "tool_result", "approval_required", "spent")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_FIELD_NUMBER: _ClassVar[int]
    TOOL_CALL_FIELD_NUMBER: _ClassVar[int]
    TOOL_RESULT_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    SPENT_FIELD_NUMBER: _ClassVar[int]
    started: TurnStarted
    model: _common_pb2.ModelSelected
    citations: CitationList
    token: TokenDelta
    completed: TurnCompleted
    guardrail: GuardrailEvent
    tool_call: ToolCallEvent
    tool_result: ToolResultEvent
    approval_required: ApprovalRequired
    spent: TurnSpent
    def __init__(self, started: _Optional[_Union[TurnStarted, _Mapping]] = ..., model: _Optional[_Union[_common_pb2.ModelSelected, _Mapping]] = ..., citations: _Optional[_Union[CitationList, _Mapping]] = ..., token: _Optional[_Union[TokenDelta, _Mapping]] = ..., completed: _Optional[_Union[TurnCompleted, _Mapping]] = ..., guardrail: _Optional[_Union[GuardrailEvent, _Mapping]] = ..., tool_call: _Optional[_Union[ToolCallEvent, _Mapping]] = ..., tool_result: _Optional[_Union[ToolResultEvent, _Mapping]] = ..., approval_required: _Optional[_Union[ApprovalRequired, _Mapping]] = ..., spent: _Optional[_Union[TurnSpent, _Mapping]] = ...) -> None: ...

class TurnSpent(_message.Message):
    __slots__ = ("usage",)
    USAGE_FIELD_NUMBER: _ClassVar[int]
    usage: _common_pb2.Usage
    def __init__(self, usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ...) -> None: ...

class GuardrailEvent(_message.Message):
    __slots__ = ("kind", "action", "categories", "document_id", "chunk_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNK_ID_FIELD_NUMBER: _ClassVar[int]
    kind: str
    action: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    document_id: str
    chunk_id: str
    def __init__(self, kind: _Optional[str] = ..., action: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ..., document_id: _Optional[str] = ..., chunk_id: _Optional[str] = ...) -> None: ...

class UserDataRequest(_message.Message):
    __slots__ = ("caller",)
    CALLER_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ...) -> None: ...

class UserConversation(_message.Message):
    __slots__ = ("conversation", "messages")
    CONVERSATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    conversation: Conversation
    messages: _containers.RepeatedCompositeFieldContainer[Message]
    def __init__(self, conversation: _Optional[_Union[Conversation, _Mapping]] = ..., messages: _Optional[_Iterable[_Union[Message, _Mapping]]] = ...) -> None: ...

class EraseUserDataResponse(_message.Message):
    __slots__ = ("conversations", "messages", "usage_records_anonymised", "memory_facts")
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    USAGE_RECORDS_ANONYMISED_FIELD_NUMBER: _ClassVar[int]
    MEMORY_FACTS_FIELD_NUMBER: _ClassVar[int]
    conversations: int
    messages: int
    usage_records_anonymised: int
    memory_facts: int
    def __init__(self, conversations: _Optional[int] = ..., messages: _Optional[int] = ..., usage_records_anonymised: _Optional[int] = ..., memory_facts: _Optional[int] = ...) -> None: ...

class TenantUsageRequest(_message.Message):
    __slots__ = ("caller", "since", "until")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    since: str
    until: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., since: _Optional[str] = ..., until: _Optional[str] = ...) -> None: ...

class UsageRow(_message.Message):
    __slots__ = ("day", "provider", "model", "turns", "prompt_tokens", "completion_tokens", "cached_prompt_tokens", "cost", "unpriced_turns", "cache_hits", "kind")
    DAY_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TURNS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHED_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_TURNS_FIELD_NUMBER: _ClassVar[int]
    CACHE_HITS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    day: str
    provider: str
    model: str
    turns: int
    prompt_tokens: int
    completion_tokens: int
    cached_prompt_tokens: int
    cost: str
    unpriced_turns: int
    cache_hits: int
    kind: str
    def __init__(self, day: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., turns: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cached_prompt_tokens: _Optional[int] = ..., cost: _Optional[str] = ..., unpriced_turns: _Optional[int] = ..., cache_hits: _Optional[int] = ..., kind: _Optional[str] = ...) -> None: ...

class RecordUsageRequest(_message.Message):
    __slots__ = ("caller", "provider", "model", "usage", "served", "kind")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    SERVED_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    provider: str
    model: str
    usage: _common_pb2.Usage
    served: _common_pb2.Served
    kind: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., usage: _Optional[_Union[_common_pb2.Usage, _Mapping]] = ..., served: _Optional[_Union[_common_pb2.Served, _Mapping]] = ..., kind: _Optional[str] = ...) -> None: ...

class RecordUsageResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TenantUsageResponse(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: _containers.RepeatedCompositeFieldContainer[UsageRow]
    def __init__(self, rows: _Optional[_Iterable[_Union[UsageRow, _Mapping]]] = ...) -> None: ...

class PurgeMessagesRequest(_message.Message):
    __slots__ = ("older_than_seconds",)
    OLDER_THAN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    older_than_seconds: float
    def __init__(self, older_than_seconds: _Optional[float] = ...) -> None: ...

class PurgeMessagesResponse(_message.Message):
    __slots__ = ("messages", "conversations")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    messages: int
    conversations: int
    def __init__(self, messages: _Optional[int] = ..., conversations: _Optional[int] = ...) -> None: ...

class MemoryFact(_message.Message):
    __slots__ = ("id", "content", "source", "created_at", "updated_at", "conversation_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    content: str
    source: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    conversation_id: str
    def __init__(self, id: _Optional[str] = ..., content: _Optional[str] = ..., source: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., conversation_id: _Optional[str] = ...) -> None: ...

class Memory(_message.Message):
    __slots__ = ("enabled", "tenant_allowed", "facts")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    TENANT_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    FACTS_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    tenant_allowed: bool
    facts: _containers.RepeatedCompositeFieldContainer[MemoryFact]
    def __init__(self, enabled: _Optional[bool] = ..., tenant_allowed: _Optional[bool] = ..., facts: _Optional[_Iterable[_Union[MemoryFact, _Mapping]]] = ...) -> None: ...

class GetMemoryRequest(_message.Message):
    __slots__ = ("caller",)
    CALLER_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ...) -> None: ...

class UpdateMemorySettingsRequest(_message.Message):
    __slots__ = ("caller", "enabled")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    enabled: bool
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., enabled: _Optional[bool] = ...) -> None: ...

class AddMemoryFactRequest(_message.Message):
    __slots__ = ("caller", "content")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    content: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., content: _Optional[str] = ...) -> None: ...

class UpdateMemoryFactRequest(_message.Message):
    __slots__ = ("caller", "fact_id", "content")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    FACT_ID_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    fact_id: str
    content: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., fact_id: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class DeleteMemoryFactRequest(_message.Message):
    __slots__ = ("caller", "fact_id")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    FACT_ID_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    fact_id: str
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., fact_id: _Optional[str] = ...) -> None: ...

class DeleteMemoryFactResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TenantMemoryPolicy(_message.Message):
    __slots__ = ("caller", "user_memory_allowed")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    USER_MEMORY_ALLOWED_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    user_memory_allowed: bool
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., user_memory_allowed: _Optional[bool] = ...) -> None: ...

class GetTenantMemoryPolicyRequest(_message.Message):
    __slots__ = ("caller",)
    CALLER_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ...) -> None: ...

class TenantEvaluationPolicy(_message.Message):
    __slots__ = ("caller", "share")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    share: float
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., share: _Optional[float] = ...) -> None: ...

class GetTenantEvaluationPolicyRequest(_message.Message):
    __slots__ = ("caller",)
    CALLER_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ...) -> None: ...

class GetEvaluationInputRequest(_message.Message):
    __slots__ = ("message_id",)
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    def __init__(self, message_id: _Optional[str] = ...) -> None: ...

class EvaluationInput(_message.Message):
    __slots__ = ("message_id", "conversation_id", "user_id", "tenant_id", "question", "answer", "citations", "model", "provider", "finish_reason")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    conversation_id: str
    user_id: str
    tenant_id: str
    question: str
    answer: str
    citations: _containers.RepeatedCompositeFieldContainer[_common_pb2.Citation]
    model: str
    provider: str
    finish_reason: str
    def __init__(self, message_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., user_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., question: _Optional[str] = ..., answer: _Optional[str] = ..., citations: _Optional[_Iterable[_Union[_common_pb2.Citation, _Mapping]]] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., finish_reason: _Optional[str] = ...) -> None: ...

class EvaluationScores(_message.Message):
    __slots__ = ("faithfulness", "answer_relevance", "context_precision", "context_recall")
    FAITHFULNESS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_RELEVANCE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_PRECISION_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_RECALL_FIELD_NUMBER: _ClassVar[int]
    faithfulness: float
    answer_relevance: float
    context_precision: float
    context_recall: float
    def __init__(self, faithfulness: _Optional[float] = ..., answer_relevance: _Optional[float] = ..., context_precision: _Optional[float] = ..., context_recall: _Optional[float] = ...) -> None: ...

class RecordEvaluationRequest(_message.Message):
    __slots__ = ("message_id", "scores", "judge_model", "status", "error", "claims", "supported_claims")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    JUDGE_MODEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_CLAIMS_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    scores: EvaluationScores
    judge_model: str
    status: str
    error: str
    claims: int
    supported_claims: int
    def __init__(self, message_id: _Optional[str] = ..., scores: _Optional[_Union[EvaluationScores, _Mapping]] = ..., judge_model: _Optional[str] = ..., status: _Optional[str] = ..., error: _Optional[str] = ..., claims: _Optional[int] = ..., supported_claims: _Optional[int] = ...) -> None: ...

class RecordEvaluationResponse(_message.Message):
    __slots__ = ("recorded",)
    RECORDED_FIELD_NUMBER: _ClassVar[int]
    recorded: bool
    def __init__(self, recorded: _Optional[bool] = ...) -> None: ...

class Evaluation(_message.Message):
    __slots__ = ("message_id", "conversation_id", "user_id", "model", "provider", "scores", "judge_model", "status", "error", "rating", "claims", "supported_claims", "evaluated_at", "answered_at")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    JUDGE_MODEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    CLAIMS_FIELD_NUMBER: _ClassVar[int]
    SUPPORTED_CLAIMS_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_AT_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_AT_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    conversation_id: str
    user_id: str
    model: str
    provider: str
    scores: EvaluationScores
    judge_model: str
    status: str
    error: str
    rating: int
    claims: int
    supported_claims: int
    evaluated_at: _timestamp_pb2.Timestamp
    answered_at: _timestamp_pb2.Timestamp
    def __init__(self, message_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., user_id: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., scores: _Optional[_Union[EvaluationScores, _Mapping]] = ..., judge_model: _Optional[str] = ..., status: _Optional[str] = ..., error: _Optional[str] = ..., rating: _Optional[int] = ..., claims: _Optional[int] = ..., supported_claims: _Optional[int] = ..., evaluated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., answered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListEvaluationsRequest(_message.Message):
    __slots__ = ("caller", "page", "model", "rating", "status", "since", "until", "max_faithfulness")
    CALLER_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    RATING_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    MAX_FAITHFULNESS_FIELD_NUMBER: _ClassVar[int]
    caller: _common_pb2.Caller
    page: _common_pb2.PageRequest
    model: str
    rating: str
    status: str
    since: _timestamp_pb2.Timestamp
    until: _timestamp_pb2.Timestamp
    max_faithfulness: float
    def __init__(self, caller: _Optional[_Union[_common_pb2.Caller, _Mapping]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., model: _Optional[str] = ..., rating: _Optional[str] = ..., status: _Optional[str] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_faithfulness: _Optional[float] = ...) -> None: ...

class ListEvaluationsResponse(_message.Message):
    __slots__ = ("evaluations", "page")
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    evaluations: _containers.RepeatedCompositeFieldContainer[Evaluation]
    page: _common_pb2.PageInfo
    def __init__(self, evaluations: _Optional[_Iterable[_Union[Evaluation, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageInfo, _Mapping]] = ...) -> None: ...
