import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { ApprovalCard, ToolSteps } from "../components/ToolSteps";
import type { PendingApproval, ToolStep } from "../api/types";

const shown = (status: string) => {
  const steps: ToolStep[] = [{ type: "tool", call_id: "c1", name: "http_fetch", arguments: "{}", status }];
  return renderToStaticMarkup(<ToolSteps steps={steps} />);
};

const card = (args: string) => {
  const call = { call_id: "c1", name: "send_mail", arguments: args, step: 1, needs_approval: true };
  const approval: PendingApproval = { run_id: "r1", calls: [call], expires_at: "" };
  return renderToStaticMarkup(<ApprovalCard approval={approval} disabled={false} onDecide={async () => {}} />);
};

describe("a tool step's status", () => {
  it.each([
    ["ok", "done"],
    ["blocked", "blocked: its arguments disclosed protected instructions"],
    ["interrupted", "interrupted: it may have run, its result is unknown"],
    ["awaiting_approval", "waiting for your approval"],
  ])("%s is shown in words", (status, words) => {
    expect(shown(status)).toContain(words);
  });

  it("shows a status it does not know as it came", () => {
    expect(shown("something_new")).toContain("something_new");
  });
});

describe("the approval card", () => {
  it("says when the output filter hides some of the arguments", () => {
    const shown = card('{"to": "[EMAIL REDACTED]"}');
    expect(shown).toContain("Some values are hidden by the output filter");
    expect(shown).toContain("write any hidden value out");
  });

  it("says nothing of it when nothing is hidden", () => {
    expect(card('{"to": "team"}')).not.toContain("hidden by the output filter");
  });
});

describe("the approval card shows what runs", () => {
  it("writes out a direction override instead of letting it reorder the address", () => {
    const shown = card(JSON.stringify({ to: "team@example.com\u202Emoc.live@" }));
    expect(shown).not.toContain("\u202E");
    expect(shown).toContain("\\u202E");
  });

  it("shows a large account number as written", () => {
    expect(card('{"account": 12345678901234567890}')).toContain("12345678901234567890");
  });

  it("shows a finished step's arguments with their invisible characters written out", () => {
    const steps: ToolStep[] = [{ type: "tool", call_id: "c1", name: "http_fetch", arguments: '{"url": "https://a.example/\u200Bx"}', status: "ok" }];
    const shown = renderToStaticMarkup(<ToolSteps steps={steps} />);
    expect(shown).not.toContain("\u200B");
    expect(shown).toContain("\\u200B");
  });
});
