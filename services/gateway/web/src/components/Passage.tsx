import { useQuery } from "@tanstack/react-query";
import { useEffect, useRef } from "react";
import { apiJson } from "../api/session";
import type { Chunk, Citation } from "../api/types";

export function citationLabel(c: Pick<Citation, "title" | "section" | "page">): string {
  return `${c.title || "Document"}${c.section ? ` — ${c.section}` : ""}${c.page ? `, page ${c.page}` : ""}`;
}

/** The whole passage a citation points at, in a modal dialog (focus moves in, Esc closes, focus
 * goes back to the citation). Shown as text: nothing from a document is ever parsed as HTML. */
export function PassageDialog({ citation, onClose }: { citation: Citation; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const node = dialog.current;
    node?.showModal();
    return () => node?.close();
  }, []);
  const chunk = useQuery({
    queryKey: ["chunk", citation.document_id, citation.chunk_id],
    queryFn: () => apiJson<Chunk>(`/api/v1/documents/${encodeURIComponent(citation.document_id)}/chunks/${encodeURIComponent(citation.chunk_id)}`),
    staleTime: Infinity,
  });
  const where = chunk.data ?? citation;
  return (
    <dialog ref={dialog} className="passage" aria-labelledby="passage-title" onClose={onClose}>
      <h2 id="passage-title">[{citation.number}] {where.title || "Document"}</h2>
      <p className="muted">{where.section || "No section"}{where.page ? ` · page ${where.page}` : ""}</p>
      {chunk.isPending && <p role="status">Loading the passage…</p>}
      {chunk.isError && <p role="alert" className="form-error">The passage could not be loaded (the document may have been deleted).</p>}
      {chunk.data && <blockquote className="plain">{chunk.data.text}</blockquote>}
      <form method="dialog">
        <button type="submit" autoFocus>Close</button>
      </form>
    </dialog>
  );
}
