import { afterEach, describe, expect, it, vi } from "vitest";
import { applyChatEvent, emptyAnswer, followAnswer, streamChat } from "../api/chat";
import { SseParser } from "../api/sse";

function sse(text: string): Response {
  return new Response(new TextEncoder().encode(text), { status: 200, headers: { "Content-Type": "text/event-stream" } });
}

const FIRST = 'id: 1\nevent: start\ndata: {"conversation_id":"conv_1","user_message_id":"msg_1","message_id":"msg_2"}\n\n'
  + 'id: 2\nevent: token\ndata: {"token":"Hel","index":0}\n\n';
const REST = 'id: 3\nevent: token\ndata: {"token":"lo","index":1}\n\n'
  + 'id: 4\nevent: complete\ndata: {"finish_reason":"stop","message_id":"msg_2","conversation_id":"conv_1","model":"m","provider":"p"}\n\n';

afterEach(() => vi.unstubAllGlobals());

describe("following an answer again", () => {
  it("after a dropped connection asks for the events after the last id, so nothing shows twice", async () => {
    const calls: [string, Headers][] = [];
    vi.stubGlobal("fetch", vi.fn(async (url: string, init: RequestInit) => {
      calls.push([url, new Headers(init.headers)]);
      return sse(calls.length === 1 ? FIRST : REST);
    }));
    const parser = new SseParser();
    const signal = new AbortController().signal;
    let answer = emptyAnswer;
    await expect((async () => {
      for await (const event of streamChat({ message: "hi" }, signal, parser)) answer = applyChatEvent(answer, event);
    })()).rejects.toMatchObject({ code: "NETWORK_ERROR" }); // the body ended before complete
    for await (const event of followAnswer(answer.messageId!, signal, parser)) answer = applyChatEvent(answer, event);
    expect(calls[1][0]).toBe("/api/v1/chat/stream/msg_2");
    expect(calls[1][1].get("Last-Event-ID")).toBe("2");
    expect(answer).toMatchObject({ text: "Hello", status: "done", messageId: "msg_2" });
  });

  it("from a fresh page replays the whole answer, and a 404 says it is no longer kept", async () => {
    const seen: (string | null)[] = [];
    vi.stubGlobal("fetch", vi.fn(async (_url: string, init: RequestInit) => {
      seen.push(new Headers(init.headers).get("Last-Event-ID"));
      return seen.length === 1 ? sse(FIRST + REST)
        : new Response('{"error":{"code":"NOT_FOUND","message":"gone","details":{}}}', { status: 404 });
    }));
    const signal = new AbortController().signal;
    let answer = emptyAnswer;
    for await (const event of followAnswer("msg_2", signal)) answer = applyChatEvent(answer, event);
    expect(seen[0]).toBeNull();
    expect(answer.text).toBe("Hello");
    await expect(followAnswer("msg_2", signal).next()).rejects.toMatchObject({ status: 404, code: "NOT_FOUND" });
  });
});
