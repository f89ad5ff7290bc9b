import { describe, expect, it } from "vitest";
import { applyChatEvent, emptyAnswer, toChatEvent } from "../api/chat";
import { readSse, SseParser } from "../api/sse";

describe("SseParser", () => {
  it("reads events split anywhere across chunks, with heartbeats between them", () => {
    const wire = ': ping\n\nevent: token\ndata: {"token":"Hel","index":0}\n\n: ping\n\nevent: token\ndata: {"token":"lo","index":1}\n\n';
    for (let cut = 0; cut <= wire.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.push(wire.slice(0, cut)), ...parser.push(wire.slice(cut))];
      expect(events.map((e) => [e.event, JSON.parse(e.data).token])).toEqual([["token", "Hel"], ["token", "lo"]]);
    }
  });

  it("accepts CRLF and CR line ends, a CRLF split between chunks, and multi-line data", () => {
    const parser = new SseParser();
    const events = [...parser.push("event: a\r\ndata: one\r"), ...parser.push("\ndata: two\r\r\n"), ...parser.push("data:x\r\r"), ...parser.push("\n")];
    expect(events).toEqual([
      { event: "a", data: "one\ntwo", id: "" },
      { event: "message", data: "x", id: "" },
    ]);
  });

  it("remembers the last id for a later resume, and ignores a blank line without data", () => {
    const parser = new SseParser();
    const events = parser.push("id: 7\nevent: start\n\nid: 8\nevent: token\ndata: {}\n\n");
    expect(events).toEqual([{ event: "token", data: "{}", id: "8" }]);
    expect(parser.lastEventId).toBe("8");
  });

  it("decodes UTF-8 split between network chunks", async () => {
    const bytes = new TextEncoder().encode('event: token\ndata: {"token":"héllo ✓"}\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const b of bytes) controller.enqueue(new Uint8Array([b]));
        controller.close();
      },
    });
    const events = [];
    for await (const e of readSse(body)) events.push(JSON.parse(e.data).token);
    expect(events).toEqual(["héllo ✓"]);
  });
});

describe("chat events", () => {
  it("builds the answer token by token; the error event carries the one error shape", () => {
    const frames: [string, string][] = [
      ["start", '{"conversation_id":"conv_1","user_message_id":"msg_1"}'],
      ["model", '{"provider":"local","model":"smollm2"}'],
      ["citations", '{"citations":[{"number":1,"title":"Handbook"}]}'],
      ["token", '{"token":"Hi","index":0}'],
      ["token", '{"token":" there","index":1}'],
      ["complete", '{"finish_reason":"stop","message_id":"msg_2","conversation_id":"conv_1","model":"smollm2","provider":"local"}'],
      ["future-event", "{}"],
    ];
    let answer = emptyAnswer;
    for (const [name, data] of frames) {
      const event = toChatEvent(name, data);
      if (event) answer = applyChatEvent(answer, event);
    }
    expect(answer).toMatchObject({ text: "Hi there", status: "done", messageId: "msg_2", conversationId: "conv_1", userMessageId: "msg_1" });
    expect(answer.citations[0].title).toBe("Handbook");

    const failed = applyChatEvent(answer, toChatEvent("error", '{"error":{"code":"LLM_TIMEOUT","message":"slow","details":{}}}')!);
    expect(failed.status).toBe("error");
    expect(failed.error?.code).toBe("LLM_TIMEOUT");
    expect(failed.error?.retryable).toBe(true);
    expect(failed.text).toBe("Hi there");
  });

  it("names the answer from the start event and keeps the partial text when it is stopped", () => {
    let answer = applyChatEvent(emptyAnswer, toChatEvent("start", '{"conversation_id":"conv_1","user_message_id":"msg_1","message_id":"msg_2"}')!);
    expect(answer.messageId).toBe("msg_2");
    answer = applyChatEvent(answer, toChatEvent("token", '{"token":"Par","index":0}')!);
    answer = applyChatEvent(answer, toChatEvent("stopped", '{"message_id":"msg_2"}')!);
    expect(answer).toMatchObject({ status: "stopped", text: "Par", messageId: "msg_2" });
  });
});
