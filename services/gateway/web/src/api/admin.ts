/** Shapes of the tenant administration API (/api/v1/admin/...): admins only, the API refuses others. */

export type Role = "admin" | "member" | "viewer";
export const ROLES: Role[] = ["admin", "member", "viewer"];
export const SCOPES = ["chat", "documents:read", "documents:write", "admin"] as const;
export const POLICIES = ["block", "flag", "allow"] as const;

export interface User {
  id: string;
  email: string;
  role: Role;
  is_active: boolean;
  created_at: string;
}

export interface ApiKey {
  id: string;
  name: string;
  scopes: string[];
  user_id: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
  created_at: string;
}

export interface Tenant {
  id: string;
  name: string;
  injection_policy: (typeof POLICIES)[number];
  tokens_per_minute: number;
  daily_token_budget: number;
  monthly_token_budget: number;
  user_count: number;
}

export interface TenantUsage {
  totals: { turns: number; total_tokens: number };
  budgets: Record<string, { used: number; limit: number }>;
}

export interface AuditEvent {
  id: number;
  created_at: string;
  actor_id: string;
  actor_kind: string;
  action: string;
  target_type: string;
  target_id: string;
  outcome: string;
  client_ip: string;
  details: Record<string, unknown>;
}
