import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import Markdown from "../components/Markdown";

const html = (text: string) => renderToStaticMarkup(<Markdown text={text} />);

describe("Markdown sanitising", () => {
  it.each([
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<iframe src="javascript:alert(1)"></iframe>',
    "<svg><script>alert(1)</script></svg>",
    '<a href="javascript:alert(1)">x</a>',
  ])("shows raw HTML as text and never as markup: %s", (payload) => {
    const out = html(`Before ${payload} after`);
    expect(out).not.toMatch(/<(script|img|iframe|svg)\b/i);
    expect(out).not.toMatch(/<[a-z][^>]*\son\w+=/i);
    expect(out).toContain("&lt;");
  });

  it("drops javascript: and data: links written as Markdown", () => {
    const out = html("[click](javascript:alert(1)) and [data](data:text/html,<script>alert(1)</script>) ![i](javascript:x)");
    expect(out).not.toMatch(/href="(javascript|data):/i);
    expect(out).not.toMatch(/src="javascript:/i);
  });

  it("keeps what answers need: tables, highlighted code with a copy button, math, safe links", () => {
    const out = html([
      "| a | b |", "|---|---|", "| 1 | 2 |", "",
      "```python", "def f(x):\n    return 'hi'", "```", "",
      "Inline $E = mc^2$ and", "", "$$\n\\int_0^1 x\\,dx\n$$", "",
      "[docs](https://example.com)",
    ].join("\n"));
    expect(out).toContain("<table><thead>");
    expect(out).not.toContain("[object Object]");
    expect(out).toMatch(/<span class="hljs-keyword">def<\/span>/);
    expect(out).toContain('aria-label="Copy code"');
    // KaTeX draws in the browser (the browser tests see it); here, the formulas reach it whole.
    expect(out).toContain('<span class="math" data-tex="E = mc^2"></span>');
    expect(out).toContain('<div class="math-block"><span class="math math-display" data-tex="\\int_0^1 x\\,dx"></span></div>');
    expect(out).toMatch(/<a href="https:\/\/example.com" target="_blank" rel="noopener noreferrer nofollow">/);
  });
});
