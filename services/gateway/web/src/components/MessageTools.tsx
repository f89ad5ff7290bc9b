import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { errorFromResponse } from "../api/errors";
import { apiJson, authFetch } from "../api/session";
import type { Feedback, Message } from "../api/types";
import type { Siblings } from "../branches";

/** ‹ 2/3 ›: the alternatives of a message (edits of a question, regenerations of an answer). */
export function BranchSwitcher({ siblings, what, onSwitch, disabled }: {
  siblings: Siblings; what: string; onSwitch: (id: string) => void; disabled: boolean;
}) {
  const { index, ids } = siblings;
  return (
    <span className="branches" role="group" aria-label={`${what} versions`}>
      <button type="button" className="icon" aria-label={`Previous ${what}`} disabled={disabled || index === 0}
        onClick={() => onSwitch(ids[index - 1])}>‹</button>
      <span aria-live="polite">{index + 1}/{ids.length}</span>
      <button type="button" className="icon" aria-label={`Next ${what}`} disabled={disabled || index === ids.length - 1}
        onClick={() => onSwitch(ids[index + 1])}>›</button>
    </span>
  );
}

/** Thumbs up or down on an answer, pressed again to withdraw, with an optional comment; stored
 * with the message (PUT/DELETE …/feedback) and put in the cached history as the server returns it. */
export function FeedbackButtons({ message }: { message: Message }) {
  const queries = useQueryClient();
  const rating = message.feedback?.rating;
  const [commenting, setCommenting] = useState(false);
  const [comment, setComment] = useState(message.feedback?.comment ?? "");
  const path = `/api/v1/conversations/${message.conversation_id}/messages/${message.id}/feedback`;
  const rate = useMutation({
    mutationFn: async (next: { rating: Feedback["rating"]; comment: string } | null): Promise<Feedback | null> =>
      next ? (await apiJson<Message>(path, { method: "PUT", body: JSON.stringify(next) })).feedback ?? null
        : apiJson<void>(path, { method: "DELETE" }).then(() => null),
    onSuccess: (feedback) => {
      queries.setQueryData<{ messages: Message[] }>(["messages", message.conversation_id], (old) =>
        old && { ...old, messages: old.messages.map((m) => (m.id === message.id ? { ...m, feedback } : m)) });
    },
  });
  const toggle = (value: Feedback["rating"]) => rate.mutate(rating === value ? null : { rating: value, comment });
  return (
    <div className="feedback" role="group" aria-label="Rate this answer">
      <button type="button" className="icon" aria-pressed={rating === "up"} aria-label="Good answer" disabled={rate.isPending}
        onClick={() => toggle("up")}>Good</button>
      <button type="button" className="icon" aria-pressed={rating === "down"} aria-label="Bad answer" disabled={rate.isPending}
        onClick={() => toggle("down")}>Bad</button>
      {rating && !commenting && (
        <button type="button" className="link" onClick={() => setCommenting(true)}>
          {message.feedback?.comment ? "Edit comment" : "Add a comment"}
        </button>
      )}
      {rating && commenting && (
        <form className="comment" onSubmit={(e) => { e.preventDefault(); rate.mutate({ rating, comment }); setCommenting(false); }}>
          <label>
            <span className="visually-hidden">Comment on this answer</span>
            <input value={comment} maxLength={2000} autoFocus placeholder="What was good or wrong? (optional)"
              onChange={(e) => setComment(e.target.value)} />
          </label>
          <button type="submit">Save</button>
        </form>
      )}
      {message.feedback?.comment && !commenting && <span className="muted small">“{message.feedback.comment}”</span>}
      {rate.isError && <span role="alert" className="form-error small">The rating was not saved.</span>}
    </div>
  );
}

/** The conversation as a Markdown file (GET …/export), saved under the name the server gives. */
export async function exportConversation(conversationId: string): Promise<void> {
  const response = await authFetch(`/api/v1/conversations/${encodeURIComponent(conversationId)}/export`);
  if (!response.ok) throw await errorFromResponse(response);
  const name = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") ?? "")?.[1] ?? "conversation.md";
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}
