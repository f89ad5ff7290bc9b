/** An answer as Markdown. Nothing the model writes may run: raw HTML is shown as the text it is,
 * the HTML that Markdown produces is sanitised (GitHub's schema: no script, no event handlers, no
 * javascript: URLs) and only then do the trusted steps (highlight.js, KaTeX) add their markup.
 *
 * KaTeX draws into the element itself (DOM nodes, styles through the CSSOM) rather than through
 * rehype-katex, whose HTML string is parsed with inline style attributes the CSP refuses. */

import { isValidElement, useEffect, useRef, useState, type ComponentProps, type ReactElement } from "react";
import ReactMarkdown from "react-markdown";
import rehypeHighlight from "rehype-highlight";
import rehypeSanitize, { defaultSchema } from "rehype-sanitize";
import remarkGfm from "remark-gfm";
import remarkMath from "remark-math";
import { visit } from "unist-util-visit";
import type { Root } from "mdast";

/** Raw HTML in the Markdown becomes literal text: a payload is seen, not dropped silently. */
export function remarkHtmlAsText() {
  return (tree: Root) => {
    visit(tree, "html", (node, index, parent) => {
      if (parent && index !== undefined) parent.children[index] = { type: "text", value: node.value };
    });
  };
}

export const sanitizeSchema = {
  ...defaultSchema,
  attributes: {
    ...defaultSchema.attributes,
    // remark-math marks formulas with these; KaTeX renders them after sanitising.
    code: [["className", /^language-./, "math-inline", "math-display"]],
  },
};

// react-markdown hands each component its syntax-tree node too; it must not reach the DOM.
type Props<T extends "pre" | "a" | "table" | "code"> = ComponentProps<T> & { node?: unknown };

function Math({ tex, display }: { tex: string; display: boolean }) {
  const ref = useRef<HTMLSpanElement>(null);
  useEffect(() => {
    let live = true;
    void import("./katexRender").then(({ renderMath }) => {
      if (live && ref.current) renderMath(tex, ref.current, display);
    });
    return () => {
      live = false;
    };
  }, [tex, display]);
  return <span ref={ref} className={display ? "math math-display" : "math"} data-tex={tex} />;
}

function mathOf(className: string | undefined): "inline" | "display" | null {
  if (!className?.includes("language-math")) return null;
  return className.includes("math-display") ? "display" : "inline";
}

function Code({ node: _, className, children, ...props }: Props<"code">) {
  const math = mathOf(className);
  if (math) return <Math tex={String(children ?? "")} display={math === "display"} />;
  return <code className={className} {...props}>{children}</code>;
}

function CodeBlock({ node: _, ...props }: Props<"pre">) {
  const ref = useRef<HTMLPreElement>(null);
  const [copied, setCopied] = useState(false);
  const child = props.children as ReactElement<{ className?: string }>;
  if (isValidElement(child) && mathOf(child.props.className) === "display") return <div className="math-block">{child}</div>;
  const copy = async () => {
    await navigator.clipboard.writeText(ref.current?.innerText ?? "");
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  return (
    <div className="code-block">
      <button type="button" className="copy" onClick={copy} aria-label="Copy code">
        {copied ? "Copied" : "Copy"}
      </button>
      <pre ref={ref} tabIndex={0} {...props} />
    </div>
  );
}

function Link({ node: _, ...props }: Props<"a">) {
  return <a {...props} target="_blank" rel="noopener noreferrer nofollow" />;
}

function Table({ node: _, ...props }: Props<"table">) {
  return (
    <div className="table-wrap" tabIndex={0}>
      <table {...props} />
    </div>
  );
}

export default function Markdown({ text }: { text: string }) {
  return (
    <ReactMarkdown
      remarkPlugins={[remarkGfm, remarkMath, remarkHtmlAsText]}
      rehypePlugins={[[rehypeSanitize, sanitizeSchema], [rehypeHighlight, { plainText: ["math"] }]]}
      components={{ pre: CodeBlock, code: Code, a: Link, table: Table }}
    >
      {text}
    </ReactMarkdown>
  );
}
