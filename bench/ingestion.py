"""Ingestion throughput, end to end, on this machine, with the embedded defaults and one
worker: ~2 KB text and Markdown files uploaded over HTTP until every one is `indexed`.

Side by side in one run:
  (a) the fleet: files per minute and chunks per second, upload -> indexed, and where the two
      cores' time went meanwhile (encoding, the rest of the worker, rag, gateway, anything else
      on the machine, idle);
  (b) the raw encode speed of the same embedding model and backend on the same chunks
      (sentence-transformers, in this process with the fleet stopped, the best of several
      ways to run it);
  (c) the same raw speed for torch fp32, the unquantised baseline.

    python bench/ingestion.py [--files 600] [--concurrency 4] [--per-request 10]

600 files by default (4,826 chunks, 19-30 s on two cores): what a run spends once, at its ends (the
first upload reaching the worker, the last batch encoded by one runner while the other has
nothing left), is ~0.5 s; in a 12 s run of 300 files that was 4% of the time measured.
Writes bench/results/ingestion.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from fleet import Fleet, Ports  # noqa: E402
from sample_docs import make_markdown, make_text  # noqa: E402

FP32_SAMPLE = 1200
WORDS = ("invoice approval travel policy security badge laptop refund customer contract renewal budget quarter "
         "report meeting office parking release feature deploy incident review mentor training vendor payment "
         "schedule retention archive commission quota remote desk monitor chair leave parent subsidy").split()


def sample_file(i: int, rng: random.Random) -> tuple[str, bytes]:
    """A ~2 KB document with a title, three sections and a few paragraphs."""
    def sentence() -> str:
        words = rng.choices(WORDS, k=rng.randint(10, 18))
        return " ".join(words).capitalize() + f" (ref {rng.randint(1000, 9999)})."

    sections = [(f"Section {s + 1} of note {i}", [" ".join(sentence() for _ in range(4)) for _ in range(2)]) for s in range(2)]
    if i % 2:
        return f"note-{i}.md", make_markdown(f"Note {i}", sections)
    return f"note-{i}.txt", make_text(f"Note {i}", sections)


def cpu_name() -> str:
    """The CPU model and its widest vector extension (int8 kernels, so the raw speed, differ between them)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "unknown CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    vector = ("AVX-512 VNNI" if "avx512_vnni" in flags else "AVX-512" if "avx512f" in flags
              else "AVX2, no AVX-512" if "avx2" in flags else "no AVX2")
    return f"{model}, {vector}"


def cpu_seconds(fleet: Fleet) -> dict[str, float]:
    """User + system CPU time of each fleet process (and this one, the client), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in [*((n, p.pid) for n, p in fleet.processes.items()), ("bench client", os.getpid())]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            out[name] = (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            continue
    return out


class CpuTimeline(threading.Thread):
    """Where the two cores went during the run: every `interval` seconds, the CPU time used so
    far by each fleet process, by each of the worker's threads (the two busiest are its encode
    runners) and by the whole machine (/proc/stat: anything else running counts as `other`).
    Thread times come from schedstat (nanoseconds), process times from stat (clock ticks)."""

    def __init__(self, fleet: Fleet, interval: float = 0.1) -> None:
        super().__init__(name="cpu-timeline", daemon=True)
        self.pids = {**{n: p.pid for n, p in fleet.processes.items()}, "bench client": os.getpid()}
        self.interval = interval
        self.samples: list[tuple[float, dict[str, float], dict[int, float], float]] = []
        self.stopped = threading.Event()
        self._ticks = os.sysconf("SC_CLK_TCK")

    def _sample(self) -> tuple[float, dict[str, float], dict[int, float], float]:
        at = time.time()
        processes = {}
        for name, pid in self.pids.items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                # The process's own time plus its waited-for children's (none here).
                processes[name] = (int(fields[11]) + int(fields[12])) / self._ticks
            except (OSError, IndexError, ValueError):
                continue
        threads = {}
        worker = self.pids.get("ingest-worker")
        for task in Path(f"/proc/{worker}/task").iterdir() if worker else ():
            try:
                threads[int(task.name)] = int((task / "schedstat").read_text().split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                continue
        cpu = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        busy = (sum(int(v) for v in cpu[:8]) - int(cpu[3]) - int(cpu[4])) / self._ticks  # all but idle and iowait
        return at, processes, threads, busy

    def run(self) -> None:
        while not self.stopped.is_set():
            self.samples.append(self._sample())
            self.stopped.wait(self.interval)

    def stop(self) -> None:
        self.stopped.set()
        self.join()
        self.samples.append(self._sample())

    def account(self, start: float, end: float, cores: int, bucket: float = 0.5) -> tuple[dict[str, float], list[dict[str, float]]]:
        """Core-seconds from `start` to `end` (epoch seconds) by where they went: `encode` (the two
        busiest worker threads), `worker, rest`, each other process, `other` (the machine's busy
        time outside the fleet) and `idle`; overall and per `bucket` seconds."""
        samples = [s for s in self.samples if start - self.interval <= s[0] <= end + self.interval]
        if len(samples) < 2:
            return {}, []
        first, last = samples[0], samples[-1]
        runners = sorted(last[2], key=lambda t: last[2][t] - first[2].get(t, 0.0), reverse=True)[:2]

        def between(a, b) -> dict[str, float]:
            used = {name: b[1].get(name, 0.0) - a[1].get(name, 0.0) for name in b[1]}
            encode = sum(b[2].get(t, 0.0) - a[2].get(t, 0.0) for t in runners)
            out = {"encode": encode, "worker, rest": max(0.0, used.pop("ingest-worker", 0.0) - encode)}
            out.update(used)
            out["other"] = max(0.0, (b[3] - a[3]) - sum(out.values()))
            out["idle"] = max(0.0, (b[0] - a[0]) * cores - sum(out.values()))
            return out

        rows = []
        edges = [first]
        for s in samples[1:]:
            if s[0] - edges[-1][0] >= bucket or s is last:
                row = between(edges[-1], s)
                row["t"] = edges[-1][0] - start
                rows.append(row)
                edges.append(s)
        return between(first, last), rows


def raw_encode_speed(texts: list[str], backend: str) -> tuple[float, str]:
    """The fastest this machine encodes `texts` with the model and backend, in this process with
    the fleet stopped: the best of several ways to run it (one session using every core at batch
    16 and 32; one single-threaded session per core side by side, as the worker runs), each the
    best of three runs, since background load on a shared machine only ever slows a run down."""

    os.environ["EMBEDDING_BACKEND"] = backend
    from chatbot_common.embedding import EmbeddingSettings, Embedder, embedding_runners

    settings = EmbeddingSettings(backend=backend, cache_dir=ROOT / "var" / "models")
    whole = Embedder(settings)
    # torch's thread count is per process: its baseline is measured as one session only.
    runners = [whole] if backend == "torch" else embedding_runners(0, settings)

    def side_by_side() -> None:
        share = -(-len(texts) // len(runners))
        threads = [threading.Thread(target=runner.encode, args=(texts[i * share:(i + 1) * share], 16))
                   for i, runner in enumerate(runners)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    ways = {"one session, batch 16": lambda: whole.encode(texts, batch_size=16),
            "one session, batch 32": lambda: whole.encode(texts, batch_size=32)}
    if len(runners) > 1:
        ways[f"{len(runners)} one-thread sessions side by side, batch 16"] = side_by_side
    for runner in {whole, *runners}:
        runner.encode(texts[:32])
    best, best_way = 0.0, ""
    for way, run in ways.items():
        for _ in range(3):
            started = time.perf_counter()
            run()
            speed = len(texts) / (time.perf_counter() - started)
            if speed > best:
                best, best_way = speed, way
    return best, best_way


async def run_fleet(fleet: Fleet, files: list[tuple[str, bytes]], concurrency: int, per_request: int) -> dict:
    creds = {"email": "bench-ingest@example.com", "password": "benchmark password"}
    async with httpx.AsyncClient(base_url=fleet.url, timeout=120) as http:
        await http.post("/api/v1/auth/register", json=creds)
        token = (await http.post("/api/v1/auth/login", json=creds)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        queue: asyncio.Queue = asyncio.Queue()
        for first in range(0, len(files), per_request):
            queue.put_nowait(files[first:first + per_request])
        ids: list[str] = []

        async def uploader() -> None:
            while not queue.empty():
                batch = queue.get_nowait()
                reply = await http.post("/api/v1/documents", headers=headers, files=[("files", item) for item in batch])
                reply.raise_for_status()
                ids.extend(d["id"] for d in reply.json()["documents"])

        started = time.perf_counter()
        started_wall = time.time()
        await asyncio.gather(*(uploader() for _ in range(concurrency)))
        uploaded = time.perf_counter() - started
        # Poll cheaply (a count per status, not the whole list) so the client does not load the fleet.
        finished = 0
        while finished < len(files):
            finished = 0
            for status in ("indexed", "failed"):
                reply = await http.get("/api/v1/documents", headers=headers, params={"limit": 1, "status": status})
                finished += reply.json()["pagination"]["total"]
            print(f"\r  indexed {finished}/{len(files)}", end="", flush=True)
            if finished < len(files):
                await asyncio.sleep(1.0)
        print()
        docs = []
        for offset in range(0, len(files), 100):
            reply = await http.get("/api/v1/documents", headers=headers, params={"limit": 100, "offset": offset})
            docs += reply.json()["documents"]
        # Upload -> indexed ends when the registry recorded the last document finished (same
        # machine, same clock), not when this client's once-a-second poll noticed it.
        last = max(datetime.fromisoformat(d["finished_at"].replace("Z", "+00:00")).timestamp() for d in docs)
        elapsed = last - started_wall
        chunks = sum(d["chunk_count"] for d in docs)
        failed = sum(1 for d in docs if d["status"] == "failed")
        means = {k: sum(d["timings"][k] for d in docs) / len(docs) for k in ("parse_ms", "chunk_ms", "embed_ms", "index_ms", "total_ms")}
        print("  mean per document: " + ", ".join(f"{k} {v:.0f}" for k, v in means.items()))
        total = len(files)
        return {"means": means, "files": total, "failed": failed, "chunks": chunks, "seconds": elapsed, "upload_seconds": uploaded,
                "started": started_wall, "ended": last,
                "files_per_minute": total / elapsed * 60, "chunks_per_second": chunks / elapsed}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--per-request", type=int, default=10,
                        help="files per upload request (10, as the chatbot-upload folder command sends them)")
    args = parser.parse_args()
    rng = random.Random(7)
    files = [sample_file(i, rng) for i in range(args.files)]
    sizes = [len(d) for _, d in files]
    print(f"{len(files)} files, {sum(sizes) / len(sizes):.0f} bytes on average")

    fleet = Fleet(Path(tempfile.mkdtemp()) / "var", Ports.free(), {
        "GATEWAY_LOG_LEVEL": "warning", "LLM_LOG_LEVEL": "warning", "CONVERSATION_LOG_LEVEL": "warning",
        "RAG_LOG_LEVEL": "warning", "INGEST_LOG_LEVEL": "warning", "GATEWAY_RATE_LIMIT_REQUESTS": "10000000"}, log_dir=Path(tempfile.mkdtemp()))
    fleet.start()
    try:
        before = cpu_seconds(fleet)
        timeline = CpuTimeline(fleet)
        timeline.start()
        try:
            result = await run_fleet(fleet, files, args.concurrency, args.per_request)
        finally:
            timeline.stop()
        after = cpu_seconds(fleet)
    finally:
        fleet.stop()
    cores = len(os.sched_getaffinity(0))
    spent, buckets = timeline.account(result["started"], result["ended"], cores)
    print(f"  core-seconds from the first upload to the last document indexed ({cores} cores x {result['seconds']:.2f} s): "
          + ", ".join(f"{k} {v:.2f}" for k, v in spent.items()))
    print("  per 0.5 s: " + " | ".join(f"{b['t']:.1f}s enc {b['encode']:.2f} idle {b['idle']:.2f}" for b in buckets))
    cpu = {name: after[name] - before.get(name, 0.0) for name in after}
    print("  CPU seconds during the run: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
    print(f"fleet: {result['files_per_minute']:.0f} files/min, {result['chunks_per_second']:.1f} chunks/s "
          f"({result['chunks']} chunks in {result['seconds']:.1f} s, {result['failed']} failed)")

    # The same pieces the worker embedded (one per indexed chunk), encoded raw with the same model and backend.
    from ingest_worker.chunking import chunk_document, match_units
    from ingest_worker.parsing import parse

    texts = []
    for name, data in files:
        parsed = parse(data, name)
        texts += [u.embedding_text(parsed.title) for u in match_units(chunk_document(parsed))]
    raw_int8, raw_way = raw_encode_speed(texts, "onnx-int8")
    # The unquantised baseline only sets the scale: timed on the first FP32_SAMPLE chunks (a run of all of them at
    # ~100-150 chunks/s, six times, would double the benchmark's length).
    raw_fp32, _ = raw_encode_speed(texts[:FP32_SAMPLE], "torch")
    ratio = result["chunks_per_second"] / raw_int8
    print(f"raw encode: onnx-int8 {raw_int8:.1f} chunks/s ({raw_way}), torch fp32 {raw_fp32:.1f} chunks/s; fleet at {100 * ratio:.0f}% of raw int8")

    first_encode = next((f"{b['t']:.1f} s" for b in buckets if b["encode"] >= 0.05), "-")
    lines = [
        "# Ingestion benchmark", "",
        f"{len(files)} files (text and Markdown, {sum(sizes) / len(sizes):.0f} bytes on average, {len(texts)} chunks), "
        f"uploaded over HTTP {args.per_request} per request with {args.concurrency} concurrent clients to the embedded fleet with one worker; "
        f"{os.cpu_count()} cores ({cpu_name()}); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
        "| measure | value | target |", "|---|---|---|",
        f"| files per minute, upload -> indexed | {result['files_per_minute']:.0f} | ≥ 300 |",
        f"| chunks per second, upload -> indexed | {result['chunks_per_second']:.1f} | |",
        f"| raw encode, same model and backend (ONNX int8), same chunks, best way ({raw_way}) | {raw_int8:.1f} chunks/s | |",
        f"| fleet / raw | {100 * ratio:.0f}% | ≥ 80% |",
        f"| raw encode, torch fp32 (unquantised baseline; the first {min(FP32_SAMPLE, len(texts))} of the same chunks) | {raw_fp32:.1f} chunks/s | |",
        "| CPU seconds during the run | " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items() if v >= 0.05) + " | |",
        f"| core-seconds from the first upload to the last document indexed ({cores} x {result['seconds']:.1f} s), by where they went "
        "(encode: the worker's two busiest threads, its runners; other: the machine's busy time outside the fleet) | "
        + ", ".join(f"{k} {v:.2f}" for k, v in spent.items()) + " | |",
        f"| start of the first 0.5 s slice with any encoding (seconds after the first upload; the slices start one sample before it) | {first_encode} | |",
        f"| failed | {result['failed']} | 0 |",
        f"| wall time (all uploads done after) | {result['seconds']:.1f} s ({result['upload_seconds']:.1f} s) | |",
    ]
    out = ROOT / "bench" / "results" / "ingestion.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
