"""Retrieval quality on the question sets of tests/retrieval (the design guide; a mixed PDF, DOCX
and HTML corpus): recall@1/3/5, MRR@5 and nDCG@5 per set, for dense, sparse and hybrid search.

In-process (the default): the rag service is composed as `rag.server.build_service` composes it
and served over gRPC on loopback; the ingest worker's own `Pipeline` (parse, chunk, embed with
the int8 ONNX model, IndexDocuments/UpsertChunks) ingests each corpus through it, and the rag
service's `Search` answers every question in each mode (the gRPC API knows hybrid and dense only;
sparse alone is measured here for the ablation). Each set is one user's documents.

End to end (`--e2e`): the whole fleet as `make run` starts it, the corpus uploaded over HTTP and
every question asked through `/api/v1/search` (hybrid and dense), as a user would.

A hit is a returned chunk that holds the question's evidence (tests/retrieval/evaluation.py).
Each run is stored under its label in bench/results/retrieval.json; bench/results/retrieval.md
(the ablation table) and retrieval.png (its chart) are drawn from every label stored.

    python bench/retrieval.py --label "baseline"            [--sets guide,mixed] [--modes dense,sparse,hybrid]
    python bench/retrieval.py --label "e2e (API)" --e2e
    python bench/retrieval.py --render                      # redraw the table and chart only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "tests" / "retrieval"))
from chatbot_eval.retrieval import first_hit  # noqa: E402
from evaluation import SETS, Question, load, score  # noqa: E402
from harness import CONTENT_TYPES  # noqa: E402

RESULTS = ROOT / "bench" / "results"
STORE = RESULTS / "retrieval.json"
MODES = ("dense", "sparse", "hybrid")
TOP_K = 5


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                flags = Path("/proc/cpuinfo").read_text()
                return f"{name} ({'AVX-512 VNNI' if 'avx512_vnni' in flags else 'AVX2, no AVX-512 VNNI'})"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# --- in process ------------------------------------------------------------------------------


async def run_in_process(sets: list[str], modes: list[str], threshold: float | None = None) -> dict:
    from harness import KnowledgeBase

    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-") as tmp:
        async with KnowledgeBase(Path(tmp)) as kb:
            for name in sets:
                ingested = await kb.ingest(name)
                questions = load(name)
                per_mode = {}
                for mode in modes:
                    ranks, misses, took = [], [], []
                    for q in tqdm(questions, desc=f"{name:5} {mode:6}", unit="q", leave=False):
                        passages, took_ms = await kb.ask(ingested.reader, q.question, mode, top_k=TOP_K, threshold=threshold)
                        took.append(took_ms)
                        rank = first_hit([p.payload.get("text", "") for p in passages], q.evidence)
                        ranks.append(rank)
                        if rank is None:
                            misses.append(miss(q, passages))
                    per_mode[mode] = summary(questions, ranks, misses, took)
                    print_line(name, mode, per_mode[mode])
                results[name] = {"chunks": ingested.chunks, "ingest_seconds": round(ingested.seconds, 1), "modes": per_mode}
    return results


def miss(q: Question, passages) -> dict:
    return {"id": q.id, "split": q.split, "kind": q.kind, "question": q.question, "evidence": q.evidence, "section": q.section,
            "got": [{"section": p.payload.get("section", ""), "text": p.payload.get("text", "")[:160]} for p in passages]}


def summary(questions: list[Question], ranks: list[int | None], misses: list[dict], took: list[int]) -> dict:
    test = [r for q, r in zip(questions, ranks, strict=True) if q.split == "test"]
    dev = [r for q, r in zip(questions, ranks, strict=True) if q.split == "dev"]
    took = sorted(took)
    return {"all": vars(score(ranks, TOP_K)), "dev": vars(score(dev, TOP_K)), "test": vars(score(test, TOP_K)),
            "p95_ms": took[min(len(took) - 1, int(0.95 * len(took)))] if took else 0,
            "ranks": {q.id: r for q, r in zip(questions, ranks, strict=True)}, "misses": misses}


def print_line(name: str, mode: str, s: dict) -> None:
    a = s["all"]
    print(f"{name:6} {mode:7} n={a['questions']:3}  R@1 {a['recall_at_1']:.3f}  R@3 {a['recall_at_3']:.3f}  "
          f"R@5 {a['recall_at_5']:.3f}  MRR@5 {a['mrr_at_5']:.3f}  nDCG@5 {a['ndcg_at_5']:.3f}  "
          f"(test split R@5 {s['test']['recall_at_5']:.3f}, MRR@5 {s['test']['mrr_at_5']:.3f})", flush=True)


# --- end to end, over the API ----------------------------------------------------------------


def run_e2e(sets: list[str], modes: list[str]) -> dict:
    import httpx
    from fleet import Fleet, Ports

    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-retrieval-e2e-") as tmp:
        fleet = Fleet(Path(tmp) / "var", Ports.free(), log_dir=Path(tmp) / "logs")
        fleet.start(timeout=300)
        try:
            with httpx.Client(base_url=fleet.url, timeout=120) as http:
                for name in sets:
                    email, password = f"bench-{name}@example.com", "a long bench password"
                    http.post("/api/v1/auth/register", json={"email": email, "password": password}).raise_for_status()
                    token = http.post("/api/v1/auth/login", json={"email": email, "password": password}).json()["access_token"]
                    auth = {"authorization": f"Bearer {token}"}
                    files = [("files", (p.name, p.read_bytes(), CONTENT_TYPES[p.suffix])) for p in SETS[name][1]]
                    started = time.perf_counter()
                    reply = http.post("/api/v1/documents", headers=auth, files=files)
                    reply.raise_for_status()
                    ids = [d["id"] for d in reply.json()["documents"]]
                    chunks = 0
                    for document_id in ids:
                        while (doc := http.get(f"/api/v1/documents/{document_id}", headers=auth).json())["status"] not in (
                                "indexed", "failed"):
                            time.sleep(0.25)
                        if doc["status"] != "indexed":
                            raise SystemExit(f"{name}: {doc}")
                        chunks += doc["chunk_count"]
                    ingest_s = time.perf_counter() - started
                    questions = load(name)
                    per_mode = {}
                    for mode in modes:
                        if mode == "sparse":
                            continue  # the API searches hybrid or dense
                        ranks, misses, took = [], [], []
                        for q in tqdm(questions, desc=f"{name:5} {mode:6}", unit="q", leave=False):
                            body = {"query": q.question, "top_k": TOP_K, "hybrid": mode == "hybrid"}
                            while (reply := http.post("/api/v1/search", headers=auth, json=body)).status_code == 429:
                                time.sleep(float(reply.headers.get("retry-after", "1")))  # the user's request rate limit
                            reply.raise_for_status()
                            hits = reply.json()["hits"]
                            took.append(0)
                            rank = first_hit([h["chunk"]["text"] for h in hits], q.evidence)
                            ranks.append(rank)
                            if rank is None:
                                misses.append({"id": q.id, "question": q.question, "evidence": q.evidence,
                                               "got": [h["chunk"]["section"] for h in hits]})
                        per_mode[mode] = summary(questions, ranks, misses, took)
                        print_line(name, mode, per_mode[mode])
                    results[name] = {"chunks": chunks, "ingest_seconds": round(ingest_s, 1), "modes": per_mode}
        finally:
            fleet.stop()
    return results


# --- the table and the chart -----------------------------------------------------------------


def render(store: dict) -> None:
    runs = store["runs"]
    sizes = {name: len(load(name)) for name in SETS}
    lines = [
        "# Retrieval quality: ablation",
        "",
        f"Question sets and corpora in `tests/retrieval/` (the design guide, {sizes['guide']} questions; a self-written mixed "
        f"PDF/DOCX/HTML corpus, {sizes['mixed']} questions). A hit is a returned chunk that holds the question's verbatim "
        "evidence; top 5; the service's default score threshold. `dev` questions were studied while changing retrieval, "
        "`test` questions were not (second table). Rows up to 14 ran on the guide's first 133 questions (67 dev, 66 test); "
        "from 14b on, 57 more dev questions (mostly worded unlike their evidence) are in the set, so the all-questions "
        "figures of those rows are not comparable with the earlier ones, the test split's are. Each row is one run of "
        "`bench/retrieval.py` at the commit named; every run embeds with the int8 ONNX model on the CPU named.",
        "",
        *before_after(runs),
        "| change | set | mode | R@1 | R@3 | R@5 | MRR@5 | nDCG@5 | chunks |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    test_lines = ["| change | set | mode | questions | R@1 | R@3 | R@5 | MRR@5 | nDCG@5 |", "|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        for name, result in run["sets"].items():
            for mode, s in result["modes"].items():
                a, t = s["all"], s["test"]
                cells = [f"{a[k]:.3f}" for k in ("recall_at_1", "recall_at_3", "recall_at_5", "mrr_at_5", "ndcg_at_5")]
                lines.append(f"| {run['label']} | {name} | {mode} | {' | '.join(cells)} | {result['chunks']} |")
                tcells = [f"{t[k]:.3f}" for k in ("recall_at_1", "recall_at_3", "recall_at_5", "mrr_at_5", "ndcg_at_5")]
                test_lines.append(f"| {run['label']} | {name} | {mode} | {t['questions']} | {' | '.join(tcells)} |")
    lines += ["", "## Held-out questions only (`test` split)", "", *test_lines, "", "## Runs", ""]
    for run in runs:
        lines.append(f"- **{run['label']}**: commit {run['commit']}, {run['when']}, {run['how']}, {run['cpu']}")
    lines += ["", "![recall@5 and MRR@5 per change](retrieval.png)", ""]
    (RESULTS / "retrieval.md").write_text("\n".join(lines))
    chart(runs)


BEFORE_AFTER = ("11b.", "14.")  # the runs the before/after line compares (labels' starts)


def before_after(runs: list[dict]) -> list[str]:
    """One line per set: hybrid R@5 / R@3 / MRR@5 before and after, all questions and test split."""
    picked = [next((r for r in runs if r["label"].startswith(p)), None) for p in BEFORE_AFTER]
    if None in picked:
        return []
    lines = [f"**Before/after** (hybrid, R@5 / R@3 / MRR@5; `{picked[0]['label']}` -> `{picked[1]['label']}`):", ""]
    for name in picked[1]["sets"]:
        cells = []
        for split in ("all", "dev", "test"):
            if any(split not in r["sets"][name]["modes"]["hybrid"] for r in picked):
                continue
            b, a = (r["sets"][name]["modes"]["hybrid"][split] for r in picked)
            fmt = lambda s: f"{s['recall_at_5']:.3f} / {s['recall_at_3']:.3f} / {s['mrr_at_5']:.3f}"  # noqa: E731
            cells.append(f"{split} questions {fmt(b)} -> {fmt(a)}")
        lines.append(f"- {name}: {'; '.join(cells)}")
    return [*lines, ""]


def chart(runs: list[dict]) -> None:
    """Per set: recall@5, recall@3 and MRR@5 of each run's hybrid search (its best mode), the
    baseline's dense and sparse beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = sorted({name for run in runs for name in run["sets"]})
    fig, axes = plt.subplots(1, len(sets), figsize=(6.5 * len(sets), 5.5), squeeze=False)
    for ax, name in zip(axes[0], sets, strict=True):
        bars = []
        for i, run in enumerate(runs):
            modes = run["sets"].get(name, {}).get("modes", {})
            for mode in (("dense", "sparse", "hybrid") if i == 0 else ("hybrid",)):
                if mode in modes:
                    short = run["label"].split(" (")[0]
                    bars.append((f"{short[:34]} [{mode}]", modes[mode]["all"]))
        y = list(range(len(bars)))
        for offset, key, label in ((-0.27, "recall_at_5", "recall@5"), (0, "recall_at_3", "recall@3"), (0.27, "mrr_at_5", "MRR@5")):
            ax.barh([i + offset for i in y], [b[1][key] for b in bars], height=0.27, label=label)
        ax.set_yticks(y, [b[0] for b in bars], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.axvline(29 / 30, color="grey", linestyle="--", linewidth=0.8)
        ax.axvline(0.80, color="grey", linestyle=":", linewidth=0.8)
        counts = sorted({b[1]["questions"] for b in bars})
        asked = f"{counts[0]} questions" if len(counts) == 1 else f"{counts[0]}-{counts[-1]} questions, by run"
        ax.set_title(f"{name} ({asked}); targets: R@5 29/30 (dashed), MRR@5 0.80 (dotted)", fontsize=8)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.05), ncol=3)
    fig.tight_layout()
    fig.savefig(RESULTS / "retrieval.png", dpi=110)


def git_commit() -> str:
    import subprocess

    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--label", default="")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--e2e", action="store_true", help="the whole fleet over the HTTP API")
    parser.add_argument("--threshold", type=float, default=None, help="the dense score threshold (default: the service's)")
    parser.add_argument("--render", action="store_true", help="redraw the table and chart from the stored runs")
    parser.add_argument("--misses", type=Path, default=ROOT / "var" / "reports" / "retrieval-misses.json")
    args = parser.parse_args()
    store = json.loads(STORE.read_text()) if STORE.exists() else {"runs": []}
    if not args.render:
        if not args.label:
            parser.error("--label names the run (the change it measures)")
        sets, modes = args.sets.split(","), args.modes.split(",")
        started = time.perf_counter()
        results = run_e2e(sets, modes) if args.e2e else asyncio.run(run_in_process(sets, modes, args.threshold))
        print(f"done in {time.perf_counter() - started:.0f} s")
        misses = {f"{name}/{mode}": s.pop("misses") for name, r in results.items() for mode, s in r["modes"].items()}
        args.misses.parent.mkdir(parents=True, exist_ok=True)
        args.misses.write_text(json.dumps(misses, indent=1, ensure_ascii=False))
        run = {"label": args.label, "commit": git_commit(), "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
               "how": "over the HTTP API (fleet)" if args.e2e else "in-process (worker pipeline + rag service)",
               "cpu": cpu_name(), "sets": results}
        store["runs"] = [r for r in store["runs"] if r["label"] != args.label] + [run]
        RESULTS.mkdir(parents=True, exist_ok=True)
        STORE.write_text(json.dumps(store, indent=1, ensure_ascii=False) + "\n")
    render(store)


if __name__ == "__main__":
    main()
