/** Shapes of the public REST API, as the gateway's OpenAPI document describes them. */

export interface Citation {
  number: number;
  document_id: string;
  chunk_id: string;
  title: string;
  section: string;
  page: number | null;
  snippet: string;
  score: number;
}

export interface Conversation {
  id: string;
  title: string;
  model: string;
  provider: string;
  message_count: number;
  created_at: string;
  updated_at: string;
  /** The answer being generated in this conversation, wherever it was asked; null when none is. */
  pending_message_id?: string | null;
  /** Pinned conversations are listed first; archived ones only when asked for. */
  pinned?: boolean;
  archived?: boolean;
}

export interface Feedback {
  rating: "up" | "down";
  comment: string;
  at: string;
}

export interface Message {
  id: string;
  conversation_id: string;
  /** The message this one follows; messages with the same parent are branches of each other. */
  parent_id?: string | null;
  feedback?: Feedback | null;
  role: "user" | "assistant" | "system";
  content: string;
  model: string;
  finish_reason: string;
  citations: Citation[];
  error: { code: string; message: string } | null;
  created_at: string;
  /** An agent run's steps (model steps and tool calls), and the calls it waits on for a person. */
  steps?: ToolStep[] | null;
  pending_approval?: PendingApproval | null;
}

export interface ToolCall {
  call_id: string;
  name: string;
  /** JSON text as the model wrote it, with what the output filter hides redacted ([… REDACTED]). */
  arguments: string;
  step: number;
  needs_approval: boolean;
}

export interface ToolStep {
  type: "model" | "tool";
  call_id?: string;
  name?: string;
  arguments?: string;
  /** running (live only) | ok | error | invalid | unknown_tool | denied | blocked | awaiting_approval | interrupted */
  status?: string;
  summary?: string;
  decision?: string;
}

export interface PendingApproval {
  run_id: string;
  calls: ToolCall[];
  expires_at: string;
}

export interface Page {
  total: number;
  limit: number;
  offset: number;
}

export interface Me {
  id: string;
  email: string;
  tenant_name: string;
  role: string;
  permissions: string[];
}

export type DocumentStatus = "queued" | "processing" | "indexed" | "failed";

export interface DocumentInfo {
  id: string;
  filename: string;
  title: string;
  content_type: string;
  size_bytes: number;
  collection: string;
  visibility: "private" | "tenant";
  status: DocumentStatus;
  error: string | null;
  chunk_count: number;
  page_count: number;
  owned: boolean;
  created_at: string;
}

export interface Chunk {
  chunk_id: string;
  document_id: string;
  chunk_index: number;
  text: string;
  title: string;
  section: string;
  page: number | null;
}

export interface Model {
  id: string;
  owned_by: string;
  chain: string[];
  available: boolean;
  kind?: "chat" | "embedding";
}
