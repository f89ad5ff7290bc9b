import { useState } from "react";
import type { PendingApproval, ToolStep } from "../api/types";
import { prettyJson, showInvisible } from "../jsonText";

const STATUS: Record<string, string> = {
  running: "running…", ok: "done", error: "failed", invalid: "refused: invalid arguments", unknown_tool: "no such tool",
  denied: "denied", blocked: "blocked: its arguments disclosed protected instructions", awaiting_approval: "waiting for your approval",
  interrupted: "interrupted: it may have run, its result is unknown",
};

/** The tools an agent run called: each call with its arguments and the start of its result. */
export function ToolSteps({ steps }: { steps: ToolStep[] }) {
  const calls = steps.filter((s) => s.type === "tool");
  if (calls.length === 0) return null;
  return (
    <section className="tool-steps" aria-label="Tool calls">
      <ol>
        {calls.map((s) => (
          <li key={s.call_id} className={"tool-step " + (s.status ?? "")}>
            <span className="tool-name">{s.name}</span> <code className="tool-args">{showInvisible(s.arguments ?? "")}</code>{" "}
            <span className="muted">{STATUS[s.status ?? ""] ?? s.status}{s.decision === "edit" ? " (edited)" : ""}</span>
            {s.summary && <p className="plain muted snippet">{s.summary}</p>}
          </li>
        ))}
      </ol>
    </section>
  );
}

type Decide = (decision: "approve" | "deny" | "edit", args?: Record<string, unknown>) => Promise<void>;

/** A run paused before a sensitive call: the call and its arguments, and Approve / Deny / Edit. */
export function ApprovalCard({ approval, disabled, onDecide }: { approval: PendingApproval; disabled: boolean; onDecide: Decide }) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(() => prettyJson(approval.calls[0]?.arguments ?? "{}"));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const decide = async (decision: "approve" | "deny" | "edit") => {
    setError(null);
    let args: Record<string, unknown> | undefined;
    if (decision === "edit") {
      try {
        args = JSON.parse(text);
      } catch {
        setError("The arguments must be JSON.");
        return;
      }
    }
    setBusy(true);
    try {
      await onDecide(decision, args);
    } catch (e) {
      setError((e as Error).message || "The decision could not be sent.");
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="approval" role="group" aria-label="Approval needed">
      <h3>Approval needed</h3>
      {approval.calls.map((c) => (
        <div key={c.call_id} className="approval-call">
          <p>The assistant wants to call <strong className="tool-name">{c.name}</strong> with:</p>
          <pre className="tool-args">{prettyJson(c.arguments)}</pre>
        </div>
      ))}
      {approval.calls.some((c) => HIDDEN.test(c.arguments)) && (
        <p className="muted small">
          Some values are hidden by the output filter (shown as [… REDACTED]). Approve runs with the real values; an edit
          runs as you type it, so write any hidden value out.
        </p>
      )}
      {editing && (
        <>
          <label htmlFor="approval-arguments">Arguments to run it with</label>
          <textarea id="approval-arguments" rows={4} value={text} onChange={(e) => setText(e.target.value)} />
        </>
      )}
      {error && <p role="alert" className="form-error small">{error}</p>}
      <div className="approval-actions">
        {editing
          ? <button type="button" className="primary" disabled={disabled || busy} onClick={() => void decide("edit")}>Run with these arguments</button>
          : <button type="button" className="primary" disabled={disabled || busy} onClick={() => void decide("approve")}>Approve</button>}
        <button type="button" disabled={disabled || busy} onClick={() => void decide("deny")}>Deny</button>
        {!editing && approval.calls.length === 1 && (
          <button type="button" disabled={disabled || busy} onClick={() => setEditing(true)}>Edit</button>
        )}
      </div>
    </section>
  );
}

/** The output filter's placeholder, as the approval card shows a value it hides. */
const HIDDEN = /\[[A-Z][A-Z ]* REDACTED\]/;

