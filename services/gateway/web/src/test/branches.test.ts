import { describe, expect, it } from "vitest";
import { siblingsOf } from "../branches";
import type { Message } from "../api/types";

const msg = (id: string, parent_id: string | null, role: Message["role"]): Message => ({
  id, parent_id, role, conversation_id: "conv_1", content: id, model: "", finish_reason: "", citations: [], error: null, created_at: "",
});

describe("branches", () => {
  // q1 -> a1; q1 edited as q2 -> a2, a2 regenerated as a3
  const all = [msg("q1", null, "user"), msg("a1", "q1", "assistant"), msg("q2", null, "user"), msg("a2", "q2", "assistant"),
    msg("a3", "q2", "assistant")];

  it("counts the alternatives of a message among those that follow the same one", () => {
    expect(siblingsOf(all, all[2])).toEqual({ index: 1, ids: ["q1", "q2"] });
    expect(siblingsOf(all, all[4])).toEqual({ index: 1, ids: ["a2", "a3"] });
  });

  it("shows no switcher for a message without alternatives, or one not in the list yet", () => {
    expect(siblingsOf(all, all[1])).toBeNull();
    expect(siblingsOf(all, msg("a9", "q9", "assistant"))).toBeNull();
  });
});
