import { afterEach, describe, expect, it, vi } from "vitest";
import { pendingAnswer } from "../api/inflight";
import { invitationToken } from "../api/invitations";

afterEach(() => vi.unstubAllGlobals());

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

describe("the answer in flight, as the server knows it", () => {
  it("is the conversation's pending_message_id, or null when none is under way", async () => {
    const asked: string[] = [];
    vi.stubGlobal("fetch", vi.fn(async (url: string) => {
      asked.push(url);
      return json({ id: "conv_1", pending_message_id: asked.length === 1 ? "msg_2" : null });
    }));
    expect(await pendingAnswer("conv_1")).toBe("msg_2");
    expect(await pendingAnswer("conv_1")).toBeNull();
    expect(asked).toEqual(["/api/v1/conversations/conv_1", "/api/v1/conversations/conv_1"]);
  });

  it("is unknown (undefined) when the server cannot be asked, so the tab's own hint is used", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => json({ error: { code: "SERVICE_UNAVAILABLE", message: "down", details: {} } }, 503)));
    expect(await pendingAnswer("conv_1")).toBeUndefined();
    vi.stubGlobal("fetch", vi.fn(async () => { throw new TypeError("offline"); }));
    expect(await pendingAnswer("conv_1")).toBeUndefined();
  });
});

describe("an invitation link", () => {
  const token = "cbi_" + "A".repeat(40) + "-_z";
  it("carries its token in the fragment", () => {
    expect(invitationToken(`#/invite/${token}`)).toBe(token);
  });
  it("is nothing else", () => {
    for (const hash of ["", "#/invite/", `#/invite/${token}x`, `#/invite/${token.slice(0, -1)}`, `#/other/${token}`, `#/invite/cbi_${"a".repeat(42)}!`]) {
      expect(invitationToken(hash)).toBeNull();
    }
  });
});
