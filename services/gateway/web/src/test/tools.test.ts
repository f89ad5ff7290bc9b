import { describe, expect, it } from "vitest";
import { applyChatEvent, emptyAnswer, toChatEvent, type ChatEvent } from "../api/chat";

const FRAMES: [string, string][] = [
  ["start", '{"conversation_id":"conv_1","user_message_id":"msg_1","message_id":"msg_2"}'],
  ["tool_call", '{"call_id":"c1","name":"calculator","arguments":"{\\"expression\\": \\"2+2\\"}","step":1,"needs_approval":false}'],
  ["tool_result", '{"call_id":"c1","name":"calculator","status":"ok","summary":"4","step":1}'],
  ["tool_call", '{"call_id":"c2","name":"http_fetch","arguments":"{\\"url\\": \\"https://x\\"}","step":2,"needs_approval":true}'],
  ["approval_required", '{"run_id":"msg_2","calls":[{"call_id":"c2","name":"http_fetch","arguments":"{}","step":2,"needs_approval":true}],"expires_at":"2026-12-01T13:00:00Z"}'],
  ["complete", '{"finish_reason":"awaiting_approval","message_id":"msg_2","conversation_id":"conv_1","model":"m","provider":"p"}'],
];

describe("an agent run's events", () => {
  it("show each call with its result, and the calls that wait for a person", () => {
    let answer = emptyAnswer;
    for (const [name, data] of FRAMES) answer = applyChatEvent(answer, toChatEvent(name, data) as ChatEvent);
    expect(answer.steps?.map((s) => [s.name, s.status, s.summary])).toEqual([
      ["calculator", "ok", "4"], ["http_fetch", "awaiting_approval", undefined]]);
    expect(answer.approval?.run_id).toBe("msg_2");
    expect(answer.approval?.calls.map((c) => c.name)).toEqual(["http_fetch"]);
    expect([answer.status, answer.finishReason]).toEqual(["done", "awaiting_approval"]);
  });
});
