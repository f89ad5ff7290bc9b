"""chatbot-upload: send every supported file under a folder to the knowledge base, with a
progress bar, then wait for ingestion and print a summary.

    chatbot-upload ./docs --url http://127.0.0.1:8000 --token $TOKEN [--collection handbook]
        [--visibility tenant] [--no-wait] [--concurrency 4] [--batch 10]

Files go up several per request (--batch, at most 8 MB of them), which saves the per-request
work on both sides; when the gateway refuses a batch because of one file, the batch is sent
again file by file so that only that file is refused.

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
BATCH_BYTES = 8 * 1024 * 1024
POLL_WINDOW = 20  # documents asked about per second while waiting (the oldest first)


def find_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith("."))


def batches(files: list[Path], size: int) -> list[list[Path]]:
    """Consecutive groups of at most `size` files and BATCH_BYTES (a larger file goes alone)."""
    out: list[list[Path]] = []
    current: list[Path] = []
    total = 0
    for path in files:
        length = path.stat().st_size
        if current and (len(current) >= size or total + length > BATCH_BYTES):
            out.append(current)
            current, total = [], 0
        current.append(path)
        total += length
    if current:
        out.append(current)
    return out


def _reason(reply: httpx.Response) -> str:
    try:
        return reply.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {reply.status_code}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chatbot-upload", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--url", default=os.environ.get("CHATBOT_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("CHATBOT_TOKEN", ""))
    parser.add_argument("--collection", default="default")
    parser.add_argument("--visibility", choices=["private", "tenant"], default="private")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10, help="files per upload request (1-20)")
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
        form = {"collection": args.collection, "visibility": args.visibility}

        def post(group: list[Path]) -> httpx.Response:
            return http.post("/api/v1/documents", files=[("files", (p.name, p.read_bytes())) for p in group], data=form)

        def send(group: list[Path]) -> list[tuple[Path, dict | None, str]]:
            """(file, its document or None, the reason it was refused) for each file of the group."""
            try:
                reply = post(group)
            except OSError:  # a file went away or cannot be read since the folder was listed
                if len(group) > 1:
                    return [item for p in group for item in send([p])]
                return [(group[0], None, "the file cannot be read")]
            if reply.status_code == 202:
                return [(p, d, "") for p, d in zip(group, reply.json()["documents"], strict=True)]
            if len(group) > 1 and 400 <= reply.status_code < 500 and reply.status_code != 429:
                return [item for p in group for item in send([p])]  # find the file it was refused for
            return [(p, None, _reason(reply)) for p in group]

        with ThreadPoolExecutor(max(1, args.concurrency)) as pool, tqdm(total=len(files), unit="file", desc="uploading") as bar:
            for results in pool.map(send, batches(files, max(1, min(args.batch, 20)))):
                for path, doc, reason in results:
                    if doc is not None:
                        uploaded[doc["id"]] = path
                        duplicates += doc["duplicate"]
                    else:
                        refused.append((path, reason))
                bar.update(len(results))
        statuses: dict[str, dict] = {}
        if not args.no_wait and uploaded:
            deadline = time.monotonic() + args.timeout
            with tqdm(total=len(uploaded), unit="doc", desc="indexing") as bar:
                pending = list(uploaded)  # in upload order: the worker takes them roughly so
                while pending and time.monotonic() < deadline:
                    # The window moves on: the ones still running go to the back, so a slow
                    # document never hides the others' ends.
                    window, pending = pending[:POLL_WINDOW], pending[POLL_WINDOW:]
                    for doc_id in window:
                        doc = http.get(f"/api/v1/documents/{doc_id}").json()
                        if doc.get("status") in ("indexed", "failed"):
                            statuses[doc_id] = doc
                            bar.update(1)
                        else:
                            pending.append(doc_id)
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
