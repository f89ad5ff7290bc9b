import { describe, expect, it } from "vitest";
import { groupByDate } from "../dates";
import { onlyDemoModel } from "../components/ModelPicker";

describe("conversations grouped by date", () => {
  it("puts each conversation under its last activity, newest groups first, empty groups left out", () => {
    const now = new Date(2026, 11, 1, 12, 0);
    const at = (days: number, hours = 0) => new Date(2026, 11, 1 - days, 12 - hours).toISOString();
    const groups = groupByDate([
      { id: "a", updated_at: at(0, 1) }, { id: "b", updated_at: at(1) }, { id: "c", updated_at: at(3) },
      { id: "d", updated_at: at(20) }, { id: "e", updated_at: at(90) }, { id: "f", updated_at: at(0, 11) },
    ], now);
    expect(groups.map(([name, items]) => [name, items.map((i) => i.id)])).toEqual([
      ["Today", ["a", "f"]], ["Yesterday", ["b"]], ["Previous 7 days", ["c"]], ["Previous 30 days", ["d"]], ["Older", ["e"]],
    ]);
  });
});

describe("the demo-model notice", () => {
  const local = { id: "smollm2-135m-instruct", owned_by: "local", chain: ["local:smollm2-135m-instruct"], available: true };
  it("shows when every model is the embedded one, aliases to it included", () => {
    expect(onlyDemoModel([local, { id: "default", owned_by: "chatbot", chain: ["local:smollm2-135m-instruct"], available: true }])).toBe(true);
  });
  it("hides when a real provider is connected, or nothing is known yet", () => {
    expect(onlyDemoModel([local, { id: "gpt-5", owned_by: "openai", chain: [], available: true }])).toBe(false);
    expect(onlyDemoModel([])).toBe(false);
  });
});
