"""What the output filter costs per streamed token, this tree against an earlier commit, side by side.

Four answers as models write them (Markdown prose with emphasis, code and a table; Chinese prose
with fullwidth punctuation; a JSON-mode answer with escapes; a reply full of numbers, addresses
and links) are streamed through `StreamRedactor` in 4-character pieces, as the orchestrator
feeds it, and redacted whole (a non-streamed answer). Each configuration runs in its own process
with its own copy of `libs/common`.

    python bench/output_filter.py --baseline HEAD~1   # writes bench/results/output_filter.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "output_filter.md"

PROSE = ("## Deploying the gateway\n\nThe **gateway** is *stateless*: run as many replicas as you need behind the load balancer. "
         "Set `GATEWAY_WORKERS` to the number of cores and keep `RATE_LIMIT_BACKEND=redis` so that limits hold across replicas.\n\n"
         "| setting | default | meaning |\n|---|---|---|\n| `timeout_s` | 30 | how long a request may take |\n"
         "| `max_body` | 10 MiB | the largest upload |\n\n```python\nclient = OpenAI(base_url=\"https://chat.internal/v1\")\n"
         "reply = client.chat.completions.create(model=\"default\", messages=[...])\n```\n\n"
         "1. Check the health endpoint.\n2. Watch the ~~old~~ new dashboards.\n3. Roll back with `helm rollback` if p95 rises above 800 ms.\n\n") * 6
CHINESE = ("网关是无状态的：可以按需运行多个副本，放在负载均衡器之后。请把工作进程数设为核心数，并保持限流后端为Redis，"
           "这样限额在所有副本之间都有效。「注意」：上传的最大体积为十兆字节；超时时间为三十秒。\n\n") * 12
JSON_ANSWER = json.dumps({"summary": "Der Bericht nennt 3 Risiken \u2014 \u00e9t\u00e9 2026", "items": [
    {"title": f"Risk {i}", "detail": "A \"quoted\" path C:\\temp\\x and caf\u00e9 \u2603", "owner": "ops"} for i in range(20)]})
NUMBERS = ("Call +44 20 7946 0958 or write to ops@example.com; the invoice 2026-118 totals 1,234.50 EUR for 12 seats, "
           "see [the portal](https://portal.example/invoices/2026-118) and ticket #4521 of 2026-11-30 at 14:05.\n") * 15
# Worst cases found by attacking the filter: a digit run that never checks out (each match was
# tried at every start), and fullwidth digits and escaped words held long (read again and again).
ADVERSARIAL = {"adversarial: 8 kB of '1 '": "1 " * 4000, "adversarial: 8 kB of fullwidth '\uff11 '": "\uff11 " * 4000,
               "adversarial: 8 kB of 'a&#64;'": "a&#64;" * 1360}
ANSWERS = {"Markdown prose": PROSE, "Chinese prose": CHINESE, "JSON answer": JSON_ANSWER, "numbers and addresses": NUMBERS, **ADVERSARIAL}

MEASURE = r"""
import json, statistics, sys, time
from chatbot_common.guardrails.redaction import Redactor, StreamRedactor
answers = json.loads(sys.stdin.read())
redactor = Redactor()
out = {}
for name, text in answers.items():
    pieces = [text[k:k + 4] for k in range(0, len(text), 4)]
    stream_runs, whole_runs = [], []
    for _ in range(3 if name.startswith("adversarial") else 15):
        t = time.perf_counter()
        stream = StreamRedactor(redactor)
        for piece in pieces:
            stream.feed(piece)
        stream.flush()
        stream_runs.append((time.perf_counter() - t) / len(pieces) * 1e6)
        t = time.perf_counter()
        redactor.redact(text)
        whole_runs.append((time.perf_counter() - t) * 1e3)
    out[name] = {"chars": len(text), "pieces": len(pieces), "us_per_piece": statistics.median(stream_runs),
                 "whole_ms": statistics.median(whole_runs)}
print(json.dumps(out))
"""


def _source_of(rev: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", rev, "libs/common/src"], cwd=ROOT, check=True, capture_output=True).stdout
    tar_path = into / "src.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    return into / "libs" / "common" / "src"


def _measure(src: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src)}
    done = subprocess.run([sys.executable, "-c", MEASURE], input=json.dumps(ANSWERS), env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default="HEAD~1", help="the commit to compare with")
    args = parser.parse_args()
    rev = subprocess.run(["git", "rev-parse", "--short", args.baseline], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        baseline = _measure(_source_of(rev, Path(tmp)))
    current = _measure(ROOT / "libs" / "common" / "src")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    flags = sorted(set(re.findall(r"avx512[a-z_]*", Path("/proc/cpuinfo").read_text()))) or ["no AVX-512"]
    lines = [
        "# Output filter cost per streamed token",
        "",
        f"Each answer streamed through `StreamRedactor` in 4-character pieces (median of 15 runs, 3 for the adversarial ones; µs per piece) and redacted whole "
        f"(ms); baseline {rev}, this tree beside it, each in its own process. {cpu} ({', '.join(flags)}); "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "| answer | chars | µs per piece, baseline | µs per piece, now | whole answer ms, baseline | whole answer ms, now |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in ANSWERS:
        b, c = baseline[name], current[name]
        lines.append(f"| {name} | {c['chars']} | {b['us_per_piece']:.1f} | {c['us_per_piece']:.1f} | {b['whole_ms']:.2f} | {c['whole_ms']:.2f} |")
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
