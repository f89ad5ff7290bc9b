import { describe, expect, it } from "vitest";
import { prettyJson, showInvisible } from "../jsonText";

describe("tool-call arguments as the approval card shows them", () => {
  it("indents JSON and keeps its value", () => {
    const raw = '{"to":"team@example.com","cc":[],"opts":{},"n":[1,2.5e3,-0],"s":"a, b: {c}"}';
    const shown = prettyJson(raw);
    expect(shown).toBe('{\n  "to": "team@example.com",\n  "cc": [],\n  "opts": {},\n  "n": [\n    1,\n    2.5e3,\n    -0\n  ],\n  "s": "a, b: {c}"\n}');
    expect(JSON.parse(shown)).toEqual(JSON.parse(raw));
  });

  it("shows a number past 2^53 as the model wrote it, not rounded", () => {
    const shown = prettyJson('{"account": 12345678901234567890}');
    expect(shown).toContain("12345678901234567890");
    expect(JSON.stringify(JSON.parse('{"account": 12345678901234567890}'))).not.toContain("12345678901234567890");
  });

  it("keeps escapes as written, quotes and backslashes inside strings included", () => {
    const raw = '{"path": "C:\\\\dir\\"x\\"", "at": "alice\\u0040example.com"}';
    const shown = prettyJson(raw);
    expect(shown).toContain('"C:\\\\dir\\"x\\""');
    expect(shown).toContain("alice\\u0040example.com");
    expect(JSON.parse(shown)).toEqual(JSON.parse(raw));
  });

  it.each([
    ["right-to-left override", "\u202E", "\\u202E"],
    ["zero-width space", "\u200B", "\\u200B"],
    ["first strong isolate", "\u2068", "\\u2068"],
    ["byte order mark", "\uFEFF", "\\uFEFF"],
    ["tag character", "\u{E0041}", "\\uDB40\\uDC41"],
    ["supplementary variation selector", "\u{E0100}", "\\uDB40\\uDD00"],
    ["line separator", "\u2028", "\\u2028"],
    ["combining grapheme joiner", "\u034F", "\\u034F"],
  ])("shows a %s as its escape, and the JSON still has the same value", (_, char, escape) => {
    const raw = JSON.stringify({ to: `boss${char}@example.com` });
    const shown = prettyJson(raw);
    expect(shown).not.toContain(char);
    expect(shown).toContain(`boss${escape}@example.com`);
    expect(JSON.parse(shown)).toEqual(JSON.parse(raw));
  });

  it("returns text that is not JSON as it came, invisibles shown", () => {
    expect(prettyJson("not json\u200B")).toBe("not json\\u200B");
    expect(showInvisible("plain café")).toBe("plain café");
  });
});
