import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState, type DragEvent } from "react";
import { ApiError } from "../api/errors";
import { apiJson } from "../api/session";
import type { DocumentInfo, Me, Page } from "../api/types";
import { uploadDocument } from "../api/uploads";

// How often the list is asked again while a document is still being ingested.
const POLL_MS = 1000;

interface Upload {
  key: number;
  name: string;
  progress: number;
  state: "uploading" | "uploaded" | "failed";
  error?: string;
}

const STATUS_LABEL: Record<DocumentInfo["status"], string> = {
  queued: "Queued", processing: "Processing", indexed: "Indexed", failed: "Failed",
};

function busy(d: DocumentInfo): boolean {
  return d.status === "queued" || d.status === "processing";
}

/** The document library: uploads (drop or choose, several at once, a progress bar each), the
 * documents the user can read with their ingestion status (polled while any is under way), sharing
 * with the tenant (the owner, or a tenant admin for a shared one: a switch per document), and delete. */
export function DocumentsPage({ me }: { me: Me | undefined }) {
  const queries = useQueryClient();
  const canWrite = me?.permissions.includes("documents:write") ?? false;
  const canShare = me?.permissions.includes("documents:share") ?? false;
  const isAdmin = me?.permissions.includes("admin") ?? false;
  const tenant = me?.tenant_name || "the tenant";
  const [share, setShare] = useState(false);
  const [uploads, setUploads] = useState<Upload[]>([]);
  const [dragging, setDragging] = useState(false);
  const nextKey = useRef(0);
  const list = useQuery({
    queryKey: ["documents"],
    queryFn: () => apiJson<{ documents: DocumentInfo[]; pagination: Page }>("/api/v1/documents?limit=100"),
    refetchInterval: (query) => (query.state.data?.documents.some(busy) ? POLL_MS : false),
  });
  const remove = useMutation({
    mutationFn: (id: string) => apiJson<void>(`/api/v1/documents/${id}`, { method: "DELETE" }),
    onSuccess: () => void queries.invalidateQueries({ queryKey: ["documents"] }),
  });
  // Search follows at once on the server; the list is asked again (an admin who takes a
  // colleague's document back no longer sees it).
  const sharing = useMutation({
    mutationFn: ({ id, shared }: { id: string; shared: boolean }) =>
      apiJson<DocumentInfo>(`/api/v1/documents/${id}`, { method: "PATCH", body: JSON.stringify({ shared }) }),
    onSettled: () => void queries.invalidateQueries({ queryKey: ["documents"] }),
  });

  const patch = (key: number, change: Partial<Upload>) =>
    setUploads((all) => all.map((u) => (u.key === key ? { ...u, ...change } : u)));

  const add = (files: FileList | null) => {
    if (!files) return;
    const visibility = share && canShare ? "tenant" : "private";
    for (const file of Array.from(files)) {
      const key = nextKey.current++;
      setUploads((all) => [...all, { key, name: file.name, progress: 0, state: "uploading" }]);
      uploadDocument(file, visibility, (progress) => patch(key, { progress }))
        .then(() => patch(key, { state: "uploaded", progress: 1 }))
        .catch((error: unknown) => patch(key, { state: "failed",
          error: error instanceof ApiError ? error.message : "The upload failed." }))
        .finally(() => void queries.invalidateQueries({ queryKey: ["documents"] }));
    }
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    if (canWrite) add(e.dataTransfer.files);
  };

  const documents = list.data?.documents ?? [];
  const underway = documents.filter(busy).length;

  return (
    <main className="page documents">
      <h1>Documents</h1>
      {canWrite && (
        <section aria-labelledby="upload-heading" className={"dropzone" + (dragging ? " dragging" : "")}
          onDragOver={(e) => { e.preventDefault(); setDragging(true); }} onDragLeave={() => setDragging(false)} onDrop={onDrop}>
          <h2 id="upload-heading">Upload</h2>
          <p>Drop files here (PDF, DOCX, HTML, Markdown or text), or</p>
          <label className="button file-button">
            Choose files
            <input type="file" multiple className="visually-hidden" onChange={(e) => { add(e.target.files); e.target.value = ""; }} />
          </label>
          {canShare && (
            <label className="check">
              <input type="checkbox" checked={share} onChange={(e) => setShare(e.target.checked)} />
              Share with everyone in {me?.tenant_name || "the tenant"}
            </label>
          )}
          {uploads.length > 0 && (
            <ul className="uploads" aria-label="Uploads">
              {uploads.map((u) => (
                <li key={u.key}>
                  <span className="name">{u.name}</span>
                  <progress max={1} value={u.progress} aria-label={`Upload of ${u.name}`} />
                  <span className={u.state === "failed" ? "form-error" : "muted"}>
                    {u.state === "uploading" ? `${Math.round(u.progress * 100)} %` : u.state === "uploaded" ? "Uploaded" : u.error}
                  </span>
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
      <section aria-labelledby="library-heading">
        <h2 id="library-heading">Library</h2>
        <p role="status" className="muted">
          {list.isPending ? "Loading…" : underway ? `${underway} being indexed…` : `${documents.length} document${documents.length === 1 ? "" : "s"}`}
        </p>
        {list.isError && <p role="alert" className="form-error">Documents could not be loaded.</p>}
        {remove.isError && <p role="alert" className="form-error">The document could not be deleted.</p>}
        {sharing.isError && (
          <p role="alert" className="form-error">
            Sharing could not be changed{sharing.error instanceof ApiError ? `: ${sharing.error.message}` : "."}
          </p>
        )}
        {documents.length > 0 && (
          <div className="table-wrap">
            <table className="library">
              <thead>
                <tr><th scope="col">Document</th><th scope="col">Status</th><th scope="col">Shared</th><th scope="col">Chunks</th>
                  <th scope="col"><span className="visually-hidden">Actions</span></th></tr>
              </thead>
              <tbody>
                {documents.map((d) => (
                  <tr key={d.id} aria-label={d.title || d.filename}>
                    <td>
                      <div>{d.title || d.filename}</div>
                      {d.title && d.title !== d.filename && <div className="muted small">{d.filename}</div>}
                    </td>
                    <td>
                      <span className={"status " + d.status}>{STATUS_LABEL[d.status]}</span>
                      {d.status === "failed" && d.error && <div className="form-error small">{d.error}</div>}
                    </td>
                    <td>
                      {canShare && (d.owned || (isAdmin && d.visibility === "tenant")) ? (
                        <label className="share-toggle">
                          <input type="checkbox" role="switch" checked={d.visibility === "tenant"}
                            disabled={sharing.isPending && sharing.variables?.id === d.id}
                            aria-label={`Share ${d.title || d.filename} with ${tenant}`}
                            onChange={(e) => sharing.mutate({ id: d.id, shared: e.target.checked })} />
                          <span aria-hidden="true">{d.visibility === "tenant" ? "Tenant" : "Private"}</span>
                        </label>
                      ) : (
                        d.visibility === "tenant" ? "Tenant" : "Private"
                      )}
                    </td>
                    <td>{d.status === "indexed" ? d.chunk_count : "–"}</td>
                    <td>
                      {d.owned && canWrite && (
                        <button type="button" className="icon" aria-label={`Delete ${d.title || d.filename}`}
                          onClick={() => { if (window.confirm(`Delete “${d.title || d.filename}”?`)) remove.mutate(d.id); }}>×</button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </main>
  );
}
