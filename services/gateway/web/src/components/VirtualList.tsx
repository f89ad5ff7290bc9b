import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, type ReactElement, type RefObject } from "react";

// Past this many messages only those near the viewport are in the DOM: a conversation of a
// thousand rendered Markdown answers took about 1.8 s to show (bench/web.py), and a short one
// keeps every message in the log for find-in-page and screen readers.
export const VIRTUALISE_FROM = 150;

/** Rows of any height inside `scroller`, measured as they render, the newest shown first. */
export function VirtualList<T extends { id: string }>({ items, scroller, render }: {
  items: T[];
  scroller: RefObject<HTMLElement | null>;
  render: (item: T) => ReactElement;
}) {
  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 160,
    overscan: 6,
    getItemKey: (index) => items[index].id,
  });
  useEffect(() => {
    if (items.length) virtualizer.scrollToIndex(items.length - 1, { align: "end" });
  }, [items.length, virtualizer]);
  return (
    <div className="virtual" style={{ height: virtualizer.getTotalSize() }}>
      {virtualizer.getVirtualItems().map((row) => (
        <div key={row.key} data-index={row.index} ref={virtualizer.measureElement} className="virtual-row"
          style={{ transform: `translateY(${row.start}px)` }}>
          {render(items[row.index])}
        </div>
      ))}
    </div>
  );
}
