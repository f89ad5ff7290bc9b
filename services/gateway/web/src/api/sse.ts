/** Server-Sent Events over fetch (EventSource cannot POST a body or send an Authorization header).
 *
 * The parser follows the WHATWG event-stream rules: lines end in CRLF, LF or CR; `:` starts a
 * comment (the gateway's `: ping` heartbeats); `data` lines join with "\n"; a blank line ends an
 * event; `id` is remembered across events, so a later reconnection can send it as Last-Event-ID. */

export interface SseEvent {
  event: string;
  data: string;
  id: string;
}

export class SseParser {
  private buffer = "";
  private eventName = "";
  private data: string[] = [];
  private sawData = false;
  /** The last `id:` seen: what a resumed stream would start after. */
  lastEventId = "";

  push(text: string): SseEvent[] {
    this.buffer += text;
    const out: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const ch = this.buffer[i];
      if (ch !== "\n" && ch !== "\r") continue;
      // A CR at the very end may be the first half of a CRLF split across chunks: wait for more.
      if (ch === "\r" && i === this.buffer.length - 1) break;
      const line = this.buffer.slice(start, i);
      if (ch === "\r" && this.buffer[i + 1] === "\n") i++;
      start = i + 1;
      const event = this.line(line);
      if (event) out.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string): SseEvent | null {
    if (line === "") {
      if (!this.sawData) {
        this.eventName = "";
        return null;
      }
      const event = { event: this.eventName || "message", data: this.data.join("\n"), id: this.lastEventId };
      this.eventName = "";
      this.data = [];
      this.sawData = false;
      return event;
    }
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.eventName = value;
    else if (field === "data") {
      this.data.push(value);
      this.sawData = true;
    } else if (field === "id" && !value.includes("\0")) this.lastEventId = value;
    return null;
  }
}

/** The events of a response body as they arrive; UTF-8 split across chunks is decoded whole. */
export async function* readSse(body: ReadableStream<Uint8Array>, parser = new SseParser()): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(decoder.decode(value, { stream: true }));
    }
    yield* parser.push(decoder.decode() + "\n\n");
  } finally {
    reader.releaseLock();
  }
}
