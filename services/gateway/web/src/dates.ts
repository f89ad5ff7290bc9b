/** Conversations grouped as a sidebar shows them: by how long ago they were last active. */
export const GROUPS = ["Today", "Yesterday", "Previous 7 days", "Previous 30 days", "Older"] as const;

export function dateGroup(iso: string, now = new Date()): (typeof GROUPS)[number] {
  const startOfToday = new Date(now.getFullYear(), now.getMonth(), now.getDate()).getTime();
  const t = new Date(iso).getTime();
  const day = 86_400_000;
  if (t >= startOfToday) return "Today";
  if (t >= startOfToday - day) return "Yesterday";
  if (t >= startOfToday - 7 * day) return "Previous 7 days";
  if (t >= startOfToday - 30 * day) return "Previous 30 days";
  return "Older";
}

export function groupByDate<T extends { updated_at: string }>(items: T[], now = new Date()): [string, T[]][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = dateGroup(item.updated_at, now);
    groups.set(group, [...(groups.get(group) ?? []), item]);
  }
  return GROUPS.filter((g) => groups.has(g)).map((g) => [g, groups.get(g)!]);
}
