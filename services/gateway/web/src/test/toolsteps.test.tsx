import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { ToolSteps } from "../components/ToolSteps";
import type { ToolStep } from "../api/types";

const shown = (status: string) => {
  const steps: ToolStep[] = [{ type: "tool", call_id: "c1", name: "http_fetch", arguments: "{}", status }];
  return renderToStaticMarkup(<ToolSteps steps={steps} />);
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
