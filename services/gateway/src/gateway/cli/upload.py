"""chatbot-upload: send every supported file under a folder to the knowledge base, with a
progress bar, then wait for ingestion and print a summary.

    chatbot-upload ./docs --url http://127.0.0.1:8000 --token $TOKEN [--collection handbook]
        [--visibility tenant] [--no-wait] [--concurrency 4]

The token may also come from CHATBOT_TOKEN. Exit status 0 when every file was indexed (or
queued with --no-wait), 1 when some failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from tqdm import tqdm

SUFFIXES = {".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt", ".text"}


def find_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith("."))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chatbot-upload", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--url", default=os.environ.get("CHATBOT_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("CHATBOT_TOKEN", ""))
    parser.add_argument("--collection", default="default")
    parser.add_argument("--visibility", choices=["private", "tenant"], default="private")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--no-wait", action="store_true", help="do not wait for ingestion to finish")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for ingestion")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("a token is required (--token or CHATBOT_TOKEN)")
    files = find_files(args.folder)
    if not files:
        print(f"no supported files under {args.folder}", file=sys.stderr)
        return 1
    headers = {"Authorization": f"Bearer {args.token}"}
    uploaded: dict[str, Path] = {}
    refused: list[tuple[Path, str]] = []
    duplicates = 0
    with httpx.Client(base_url=args.url, headers=headers, timeout=120) as http:

        def send(path: Path):
            with path.open("rb") as handle:
                return path, http.post("/api/v1/documents", files=[("files", (path.name, handle))],
                                       data={"collection": args.collection, "visibility": args.visibility})

        with ThreadPoolExecutor(max(1, args.concurrency)) as pool, tqdm(total=len(files), unit="file", desc="uploading") as bar:
            for path, reply in pool.map(send, files):
                if reply.status_code == 202:
                    doc = reply.json()["documents"][0]
                    uploaded[doc["id"]] = path
                    duplicates += doc["duplicate"]
                else:
                    try:
                        reason = reply.json()["error"]["message"]
                    except (ValueError, KeyError):
                        reason = f"HTTP {reply.status_code}"
                    refused.append((path, reason))
                bar.update(1)
        statuses: dict[str, dict] = {}
        if not args.no_wait and uploaded:
            deadline = time.monotonic() + args.timeout
            with tqdm(total=len(uploaded), unit="doc", desc="indexing") as bar:
                pending = set(uploaded)
                while pending and time.monotonic() < deadline:
                    for doc_id in list(pending):
                        doc = http.get(f"/api/v1/documents/{doc_id}").json()
                        if doc.get("status") in ("indexed", "failed"):
                            statuses[doc_id] = doc
                            pending.discard(doc_id)
                            bar.update(1)
                    if pending:
                        time.sleep(1)
    indexed = [d for d in statuses.values() if d["status"] == "indexed"]
    failed = [d for d in statuses.values() if d["status"] == "failed"]
    print(f"\n{len(files)} files: {len(uploaded)} accepted ({duplicates} already uploaded), {len(refused)} refused")
    if not args.no_wait:
        chunks = sum(d["chunk_count"] for d in indexed)
        print(f"{len(indexed)} indexed ({chunks} chunks), {len(failed)} failed, {len(uploaded) - len(statuses)} still in progress")
    for path, reason in refused:
        print(f"  refused  {path}: {reason}")
    for doc in failed:
        print(f"  failed   {uploaded[doc['id']]}: {doc['error']}")
    ok = not refused and not failed and (args.no_wait or len(statuses) == len(uploaded))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
