import { lazy, Suspense } from "react";

// Markdown, KaTeX and highlight.js load after the first screen: they are most of the app's code.
const Markdown = lazy(() => import("./Markdown"));

export function RichText({ text }: { text: string }) {
  return (
    <Suspense fallback={<div className="plain">{text}</div>}>
      <Markdown text={text} />
    </Suspense>
  );
}
