"""The knowledge-base tool: the agent decides when and what to retrieve. It searches the rag
service as the run's caller, so the platform's access rules apply to every hit (the caller's
own documents and their tenant's shared ones, nothing else); each passage comes back with its
document and chunk ids, for the model to cite and for the client as citations (`data`). Like
the grounded chat turn's sources, a passage's text is quoted data: delimiters it may carry to
forge a chat template's turns are removed (chatbot_common.passages.clean), and a sensitive tool
never runs on its say-so without a person's approval."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Protocol

from chatbot_common.passages import Passage, clean
from llm_orchestrator.providers.base import ToolSpec
from llm_orchestrator.tools.base import ToolContext, ToolError, ToolResult

# rag.SearchRequest.query: at most 4,000 characters (rag.proto); the schema asks for less.
MAX_QUERY_CHARS = 1_000
MAX_TOP_K = 20


class KnowledgeBase(Protocol):
    """Access-filtered search as a caller (the rag service over gRPC: llm_orchestrator.rag_client)."""

    async def search(self, context: ToolContext, query: str, top_k: int) -> list[Passage]: ...


def _observation(passages: list[Passage]) -> str:
    if not passages:
        return "No passages found in the documents this user may read."
    blocks = []
    for i, p in enumerate(passages, 1):
        # A document's text must not forge the chat template's or the prompt's delimiters.
        where = " > ".join(clean(x) for x in (p.title, p.section) if x)
        page = f", page {p.page}" if p.page else ""
        blocks.append(f"[{i}] document {p.document_id}, chunk {p.chunk_id}{page}" + (f" ({where})" if where else "")
                      + f"\n{clean(p.text)}")
    return "\n\n".join(blocks)


class KnowledgeSearch:
    """A tool: hybrid search over the knowledge base with the caller's rights."""

    spec = ToolSpec(
        name="knowledge_search",
        description="Search the organisation's knowledge base (the documents this user may read) and return the most "
                    "relevant passages with their document and chunk ids. Use it for questions about internal "
                    "documents, policies and facts; cite passages as [n].",
        parameters={
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS,
                          "description": "what to look for, in a few words or a question"},
                "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "description": "how many passages (default 5)"},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    )

    def __init__(self, knowledge_base: KnowledgeBase, top_k: int = 5, timeout: float = 15.0, sensitive: bool = False) -> None:
        self._kb = knowledge_base
        self._top_k = top_k
        self.timeout = timeout
        self.sensitive = sensitive

    async def call(self, arguments: dict[str, Any], context: ToolContext) -> ToolResult:
        if not context.user_id or not context.tenant_id:
            raise ToolError("the knowledge base is searched on behalf of a signed-in user, and there is none")
        query = arguments["query"].strip()
        if not query:
            raise ToolError("the query is blank")
        top_k = min(arguments.get("top_k", self._top_k), MAX_TOP_K)
        passages = await self._kb.search(context, query, top_k)
        citations = [asdict(p) for p in passages]
        return ToolResult(content=_observation(passages), data={"citations": citations})
