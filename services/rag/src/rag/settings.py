from __future__ import annotations

from pathlib import Path

from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from chatbot_common.settings import AlsoFrom, DatabaseSettings, EmbeddingSettings, GrpcServiceSettings


class RagSettings(GrpcServiceSettings, DatabaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")
    database_file = "rag.db"  # the document registry (status, owners, counts)

    grpc_port: int = Field(50053, ge=0, le=65535)
    # Queries are embedded by the model the ingest worker embeds documents with (EMBEDDING_*).
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)

    # Vectors: a Qdrant server when QDRANT_URL is set, else Qdrant Edge in-process under var/.
    qdrant_url: Annotated[str, AlsoFrom("QDRANT_URL")] = ""
    qdrant_api_key: Annotated[str, AlsoFrom("QDRANT_API_KEY")] = ""
    qdrant_timeout_seconds: float = Field(10.0, gt=0)
    collection: str = "chunks"
    edge_path: Path | None = None
    # Build the HNSW index once this many points arrived since the last build and writes paused.
    optimize_after_points: int = Field(2000, ge=1)
    optimize_idle_seconds: float = Field(2.0, ge=0)

    # Retrieval.
    top_k: int = Field(5, ge=1, le=50)
    max_top_k: int = Field(50, ge=1, le=200)
    prefetch_limit: int = Field(40, ge=1, le=1000)
    rrf_k: int = Field(60, ge=1)
    # Hybrid fusion: "score" weighs each side's score relative to its best (retrieval.fuse),
    # "rrf" fuses ranks in the store (Qdrant's reciprocal-rank fusion, k = rrf_k).
    fusion: Literal["score", "rrf"] = "score"
    # The dense side's share of a fused score. Above half: a passage first in meaning but sharing
    # few of the question's words (a paraphrase) is not buried under passages that share some of
    # them and mean less (bench/results/retrieval.md, rows 12-13; 0.6 tuned on the guide's dev questions).
    dense_weight: float = Field(0.6, ge=0, le=1)
    # When the keyword side's best passage holds less than this share of the question's keyword
    # terms (a question worded unlike its evidence: its keyword matches are noise), the dense side
    # weighs at least weak_keyword_dense_weight (retrieval.keyword_coverage; row 16, chosen on
    # the guide's dev questions: 0.35-0.4 and 0.85-0.9 rank them alike).
    weak_keyword_coverage: float = Field(0.4, ge=0, le=1)
    weak_keyword_dense_weight: float = Field(0.9, ge=0, le=1)
    # Score fusion: candidates the keyword side returns (a passage's pieces share its keyword
    # vector and arrive together, so it looks deeper than the dense side's prefetch_limit).
    keyword_prefetch_limit: int = Field(120, ge=1, le=1000)
    # Added to a fused score times the share of the question's adjacent word pairs a passage holds
    # (0.45-0.6 rank the guide's dev questions alike, on three embedding builds; rows 13-14).
    phrase_weight: float = Field(0.5, ge=0, le=1)
    # Hits whose dense cosine similarity is below this are dropped as weak matches, unless the
    # question is on topic (some candidate reaches the threshold) and the hit's keyword score is
    # at least this share of the best one's (code, a table row: close in words, not in meaning).
    score_threshold: float = Field(0.25, ge=-1, le=1)
    keyword_keep: float = Field(0.5, ge=0, le=1.01)
    snippet_chars: int = Field(280, ge=40)
    query_cache_size: int = Field(2048, ge=0)
    # Optional cross-encoder reranker (a sentence-transformers CrossEncoder folder).
    reranker_model_path: str = ""
    rerank_candidates: int = Field(20, ge=1, le=200)

    @model_validator(mode="after")
    def _defaults(self) -> RagSettings:
        if self.top_k > self.max_top_k:
            raise ValueError("RAG_TOP_K must not exceed RAG_MAX_TOP_K")
        if self.edge_path is None:
            self.edge_path = self.var_dir / "qdrant-edge"
        return self
