import { useQuery } from "@tanstack/react-query";
import { apiJson } from "../api/session";
import type { Model } from "../api/types";

/** Models from `/v1/models`; only the embedded demo model connected is said plainly. */
export function onlyDemoModel(models: Model[]): boolean {
  const isLocal = (m: Model) => m.owned_by === "local" || (m.chain.length > 0 && m.chain.every((c) => c.startsWith("local:")));
  return models.length > 0 && models.every(isLocal);
}

export function ModelPicker({ value, onChange }: { value: string; onChange: (model: string) => void }) {
  const models = useQuery({
    queryKey: ["models"],
    // Embedding models answer /v1/embeddings only: no chat model to pick.
    queryFn: () => apiJson<{ data: Model[] }>("/v1/models").then((r) => r.data.filter((m) => m.kind !== "embedding")),
    staleTime: 300_000,
  });
  const list = models.data ?? [];
  return (
    <div className="model-picker">
      <label>
        <span className="visually-hidden">Model</span>
        <select value={value} onChange={(e) => onChange(e.target.value)} disabled={!list.length}>
          <option value="">Default model</option>
          {list.map((m) => (
            <option key={m.id} value={m.id} disabled={!m.available}>{m.id}</option>
          ))}
        </select>
      </label>
      {onlyDemoModel(list) && (
        <p className="demo-note" role="note">
          Only the small embedded demo model is connected: fine for trying things out, not for real work.
          An admin connects a real provider (OpenAI, Anthropic or any OpenAI-compatible server) in the gateway's configuration.
        </p>
      )}
    </div>
  );
}
