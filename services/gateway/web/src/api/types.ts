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
}

export interface Message {
  id: string;
  conversation_id: string;
  role: "user" | "assistant" | "system";
  content: string;
  model: string;
  finish_reason: string;
  citations: Citation[];
  error: { code: string; message: string } | null;
  created_at: string;
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
}

export interface Model {
  id: string;
  owned_by: string;
  chain: string[];
  available: boolean;
}
