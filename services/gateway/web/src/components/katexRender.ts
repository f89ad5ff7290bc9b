// KaTeX and its stylesheet load only when an answer holds a formula: they are a third of the
// Markdown code's size.
import "katex/dist/katex.min.css";
import katex from "katex";

export function renderMath(tex: string, into: HTMLElement, display: boolean): void {
  katex.render(tex, into, { displayMode: display, throwOnError: false, trust: false });
}
