/** Branches from `parent_id`: the messages that follow the same message (and have the same role)
 * are alternatives of each other, oldest first, as the API lists them. */
import type { Message } from "./api/types";

export interface Siblings {
  index: number;
  ids: string[];
}

export function siblingsOf(all: Message[], message: Message): Siblings | null {
  if (message.parent_id === undefined) return null;
  const ids = all.filter((m) => (m.parent_id ?? null) === (message.parent_id ?? null) && m.role === message.role).map((m) => m.id);
  const index = ids.indexOf(message.id);
  return index === -1 || ids.length < 2 ? null : { index, ids };
}
