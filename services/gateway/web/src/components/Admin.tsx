import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { POLICIES, ROLES, SCOPES, type ApiKey, type AuditEvent, type Role, type Tenant, type TenantUsage, type User } from "../api/admin";
import { ApiError } from "../api/errors";
import type { Invitation } from "../api/invitations";
import { apiJson } from "../api/session";
import type { Me } from "../api/types";

const messageOf = (error: unknown) => (error instanceof ApiError ? error.message : "Something went wrong. Try again.");
const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : "—");

/** The tenant's administration: users, API keys, policy and budgets, audit log. Shown to admins
 * only (the API refuses everyone else anyway). */
export function AdminPage({ me }: { me: Me | undefined }) {
  if (!me) return <main className="page"><p role="status">Loading…</p></main>;
  if (!me.permissions.includes("admin")) {
    return <main className="page"><h1>Administration</h1><p>Only your organisation's admins can see this page.</p></main>;
  }
  return (
    <main className="page admin">
      <h1>Administration of {me.tenant_name}</h1>
      <Users me={me} />
      <Invitations />
      <Keys />
      <Policy />
      <Audit />
    </main>
  );
}

function Users({ me }: { me: Me }) {
  const queries = useQueryClient();
  const users = useQuery({ queryKey: ["admin", "users"], queryFn: () => apiJson<{ users: User[] }>("/api/v1/admin/users?limit=100") });
  const done = () => queries.invalidateQueries({ queryKey: ["admin"] });
  const add = useMutation({
    mutationFn: (body: { email: string; password: string; role: Role }) =>
      apiJson<User>("/api/v1/admin/users", { method: "POST", body: JSON.stringify(body) }),
    onSuccess: done,
  });
  const change = useMutation({
    mutationFn: ({ id, ...body }: { id: string; role?: Role; is_active?: boolean }) =>
      apiJson<User>(`/api/v1/admin/users/${id}`, { method: "PATCH", body: JSON.stringify(body) }),
    onSuccess: done,
  });
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    add.mutate({ email: String(form.get("email")), password: String(form.get("password")), role: form.get("role") as Role },
      { onSuccess: () => (e.target as HTMLFormElement).reset() });
  };
  return (
    <section aria-labelledby="users-heading">
      <h2 id="users-heading">Users and roles</h2>
      <form className="inline-form" onSubmit={submit} aria-label="Add a user">
        <label>Email <input name="email" type="email" required /></label>
        <label>First password <input name="password" type="password" minLength={8} required autoComplete="new-password" /></label>
        <label>Role
          <select name="role" defaultValue="member">{ROLES.map((r) => <option key={r} value={r}>{r}</option>)}</select>
        </label>
        <button type="submit" className="primary" disabled={add.isPending}>Add user</button>
      </form>
      {add.isError && <p role="alert" className="form-error">{messageOf(add.error)}</p>}
      {change.isError && <p role="alert" className="form-error">{messageOf(change.error)}</p>}
      <div className="table-wrap">
        <table>
          <thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">Status</th><th scope="col">Since</th>
            <th scope="col"><span className="visually-hidden">Actions</span></th></tr></thead>
          <tbody>
            {(users.data?.users ?? []).map((u) => (
              <tr key={u.id}>
                <td>{u.email}</td>
                <td>
                  <select aria-label={`Role of ${u.email}`} value={u.role} disabled={u.id === me.id || change.isPending}
                    onChange={(e) => change.mutate({ id: u.id, role: e.target.value as Role })}>
                    {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                  </select>
                </td>
                <td>{u.is_active ? "Active" : "Disabled"}</td>
                <td>{when(u.created_at)}</td>
                <td>
                  {u.id !== me.id && (
                    <button type="button" disabled={change.isPending} onClick={() => change.mutate({ id: u.id, is_active: !u.is_active })}
                      aria-label={`${u.is_active ? "Disable" : "Enable"} ${u.email}`}>{u.is_active ? "Disable" : "Enable"}</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

const STATES: Record<Invitation["state"], string> = { pending: "Pending", accepted: "Accepted", revoked: "Revoked", expired: "Expired" };

/** Invitations: the link (shown once) goes to the person, who joins with a name and a password. */
function Invitations() {
  const queries = useQueryClient();
  const list = useQuery({
    queryKey: ["admin", "invitations"],
    queryFn: () => apiJson<{ invitations: Invitation[] }>("/api/v1/admin/invitations?limit=100"),
  });
  const [created, setCreated] = useState<{ email: string; url: string } | null>(null);
  const [copied, setCopied] = useState(false);
  const done = () => queries.invalidateQueries({ queryKey: ["admin"] });
  const invite = useMutation({
    mutationFn: (body: { email: string; role: Role; expires_in_days: number }) =>
      apiJson<Invitation & { url: string }>("/api/v1/admin/invitations", { method: "POST", body: JSON.stringify(body) }),
    onSuccess: (invitation) => {
      setCreated({ email: invitation.email, url: invitation.url });
      setCopied(false);
      void done();
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => apiJson<Invitation>(`/api/v1/admin/invitations/${id}`, { method: "DELETE" }),
    onSuccess: done,
  });
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    invite.mutate({ email: String(form.get("email")), role: form.get("role") as Role, expires_in_days: Number(form.get("days")) },
      { onSuccess: () => (e.target as HTMLFormElement).reset() });
  };
  const copy = (url: string) => {
    navigator.clipboard?.writeText(url).then(() => setCopied(true), () => setCopied(false));
  };
  return (
    <section aria-labelledby="invitations-heading">
      <h2 id="invitations-heading">Invitations</h2>
      <form className="inline-form" onSubmit={submit} aria-label="Invite someone">
        <label>Email <input name="email" type="email" required /></label>
        <label>Role
          <select name="role" defaultValue="member">{ROLES.map((r) => <option key={r} value={r}>{r}</option>)}</select>
        </label>
        <label>Link works for (days) <input name="days" type="number" min={1} max={90} defaultValue={7} required /></label>
        <button type="submit" className="primary" disabled={invite.isPending}>Invite</button>
      </form>
      {invite.isError && <p role="alert" className="form-error">{messageOf(invite.error)}</p>}
      {revoke.isError && <p role="alert" className="form-error">{messageOf(revoke.error)}</p>}
      {created && (
        <div className="banner created-invitation" role="status">
          <span>Send this link to {created.email}; it is shown this once. <code className="secret">{created.url}</code></span>
          <button type="button" onClick={() => copy(created.url)}>{copied ? "Copied" : "Copy link"}</button>
          <button type="button" onClick={() => setCreated(null)}>Done</button>
        </div>
      )}
      <div className="table-wrap">
        <table aria-label="Invitations">
          <thead><tr><th scope="col">Email</th><th scope="col">Role</th><th scope="col">State</th><th scope="col">Expires</th>
            <th scope="col">Invited</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr></thead>
          <tbody>
            {(list.data?.invitations ?? []).map((i) => (
              <tr key={i.id}>
                <td>{i.email}</td>
                <td>{i.role}</td>
                <td>{STATES[i.state]}</td>
                <td>{i.state === "pending" ? when(i.expires_at) : "—"}</td>
                <td>{when(i.created_at)}</td>
                <td>
                  {i.state === "pending" && (
                    <button type="button" aria-label={`Revoke the invitation of ${i.email}`} disabled={revoke.isPending}
                      onClick={() => { if (window.confirm(`Revoke the invitation of ${i.email}?`)) revoke.mutate(i.id); }}>Revoke</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function Keys() {
  const queries = useQueryClient();
  const keys = useQuery({ queryKey: ["admin", "keys"], queryFn: () => apiJson<{ keys: ApiKey[] }>("/api/v1/admin/api-keys") });
  const [created, setCreated] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: (body: { name: string; scopes: string[]; expires_in_days: number }) =>
      apiJson<ApiKey & { key: string }>("/api/v1/admin/api-keys", { method: "POST", body: JSON.stringify(body) }),
    onSuccess: (key) => {
      setCreated(key.key);
      void queries.invalidateQueries({ queryKey: ["admin"] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => apiJson<void>(`/api/v1/admin/api-keys/${id}`, { method: "DELETE" }),
    onSuccess: () => queries.invalidateQueries({ queryKey: ["admin"] }),
  });
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    create.mutate({ name: String(form.get("name")), scopes: form.getAll("scopes").map(String),
      expires_in_days: Number(form.get("days")) });
  };
  return (
    <section aria-labelledby="keys-heading">
      <h2 id="keys-heading">API keys</h2>
      <form className="inline-form" onSubmit={submit} aria-label="Create an API key">
        <label>Name <input name="name" required maxLength={200} /></label>
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s} className="check"><input type="checkbox" name="scopes" value={s} defaultChecked={s === "chat"} /> {s}</label>
          ))}
        </fieldset>
        <label>Expires in (days) <input name="days" type="number" min={1} max={3650} defaultValue={90} required /></label>
        <button type="submit" className="primary" disabled={create.isPending}>Create key</button>
      </form>
      {create.isError && <p role="alert" className="form-error">{messageOf(create.error)}</p>}
      {created && (
        <div className="banner created-key" role="status">
          <span>Copy the key now: it is shown this once. <code className="secret">{created}</code></span>
          <button type="button" onClick={() => void navigator.clipboard?.writeText(created)}>Copy</button>
          <button type="button" onClick={() => setCreated(null)}>Done</button>
        </div>
      )}
      <div className="table-wrap">
        <table>
          <thead><tr><th scope="col">Name</th><th scope="col">Scopes</th><th scope="col">Expires</th><th scope="col">Last used</th>
            <th scope="col">Status</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr></thead>
          <tbody>
            {(keys.data?.keys ?? []).map((k) => (
              <tr key={k.id}>
                <td>{k.name}</td>
                <td>{k.scopes.join(", ")}</td>
                <td>{when(k.expires_at)}</td>
                <td>{when(k.last_used_at)}</td>
                <td>{k.revoked_at ? "Revoked" : "Active"}</td>
                <td>
                  {!k.revoked_at && (
                    <button type="button" aria-label={`Revoke ${k.name}`} disabled={revoke.isPending}
                      onClick={() => { if (window.confirm(`Revoke the key “${k.name}”?`)) revoke.mutate(k.id); }}>Revoke</button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

const BUDGETS = [
  ["tokens_per_minute", "Tokens per minute"],
  ["daily_token_budget", "Daily token budget"],
  ["monthly_token_budget", "Monthly token budget"],
] as const;

function Policy() {
  const queries = useQueryClient();
  const tenant = useQuery({ queryKey: ["admin", "tenant"], queryFn: () => apiJson<Tenant>("/api/v1/admin/tenant") });
  const usage = useQuery({ queryKey: ["admin", "usage"], queryFn: () => apiJson<TenantUsage>("/api/v1/admin/usage") });
  const save = useMutation({
    mutationFn: (body: Partial<Tenant>) => apiJson<Tenant>("/api/v1/admin/tenant", { method: "PATCH", body: JSON.stringify(body) }),
    onSuccess: (t) => {
      queries.setQueryData(["admin", "tenant"], t);
      void queries.invalidateQueries({ queryKey: ["admin"] });
    },
  });
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    save.mutate({
      injection_policy: form.get("policy") as Tenant["injection_policy"],
      ...Object.fromEntries(BUDGETS.map(([field]) => [field, Number(form.get(field))])),
    });
  };
  const t = tenant.data;
  return (
    <section aria-labelledby="policy-heading">
      <h2 id="policy-heading">Injection policy and token budgets</h2>
      {t && (
        <form className="inline-form" onSubmit={submit} key={JSON.stringify(t)} aria-label="Policy and budgets">
          <label>Prompt injection
            <select name="policy" defaultValue={t.injection_policy}>{POLICIES.map((p) => <option key={p} value={p}>{p}</option>)}</select>
          </label>
          {BUDGETS.map(([field, label]) => (
            <label key={field}>{label} <input name={field} type="number" min={-1} defaultValue={t[field]} required /></label>
          ))}
          <button type="submit" className="primary" disabled={save.isPending}>Save</button>
          <p className="muted small">-1: unlimited; 0: the platform's default.</p>
        </form>
      )}
      {save.isError && <p role="alert" className="form-error">{messageOf(save.error)}</p>}
      {save.isSuccess && <p role="status" className="muted">Saved.</p>}
      {usage.data && (
        <dl className="usage" aria-label="Current usage">
          <dt>Last 30 days</dt><dd>{usage.data.totals.turns} answers, {usage.data.totals.total_tokens.toLocaleString()} tokens</dd>
          {Object.entries(usage.data.budgets).map(([name, b]) => (
            <div key={name}><dt>{name}</dt><dd>{b.used.toLocaleString()} used of {b.limit < 0 ? "unlimited" : b.limit.toLocaleString()}</dd></div>
          ))}
        </dl>
      )}
    </section>
  );
}

function Audit() {
  const [filters, setFilters] = useState({ action: "", outcome: "", since: "" });
  const params = new URLSearchParams({ limit: "100" });
  if (filters.action) params.set("action", filters.action);
  if (filters.outcome) params.set("outcome", filters.outcome);
  if (filters.since) params.set("since", new Date(filters.since).toISOString());
  const audit = useQuery({
    queryKey: ["admin", "audit", filters],
    queryFn: () => apiJson<{ events: AuditEvent[] }>(`/api/v1/admin/audit?${params}`),
    placeholderData: keepPreviousData,
  });
  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setFilters({ action: String(form.get("action")).trim(), outcome: String(form.get("outcome")), since: String(form.get("since")) });
  };
  return (
    <section aria-labelledby="audit-heading">
      <h2 id="audit-heading">Audit log</h2>
      <form className="inline-form" onSubmit={submit} aria-label="Filter the audit log">
        <label>Action <input name="action" placeholder="e.g. api_key.create" pattern="[a-z_.]*" /></label>
        <label>Outcome
          <select name="outcome" defaultValue="">
            <option value="">any</option>
            {["success", "failure", "blocked", "flagged"].map((o) => <option key={o} value={o}>{o}</option>)}
          </select>
        </label>
        <label>Since <input name="since" type="date" /></label>
        <button type="submit">Filter</button>
      </form>
      {audit.isError && <p role="alert" className="form-error">{messageOf(audit.error)}</p>}
      {/* Focusable, so a keyboard can scroll the wide log sideways. */}
      <div className="table-wrap" tabIndex={0} role="region" aria-label="Audit events, scrollable">
        <table aria-label="Audit events">
          <thead><tr><th scope="col">When</th><th scope="col">Action</th><th scope="col">Outcome</th><th scope="col">Actor</th>
            <th scope="col">Target</th></tr></thead>
          <tbody>
            {(audit.data?.events ?? []).map((e) => (
              <tr key={e.id}>
                <td>{when(e.created_at)}</td><td>{e.action}</td><td>{e.outcome}</td>
                <td>{e.actor_kind} {e.actor_id}</td><td>{e.target_type} {e.target_id}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
