"""The embedded model's tool calls, with and without grammar-constrained decoding.

50 prompts (bench/data/tool_calls.json), each offered the same 5 tools with tool_choice
"required", answered by the embedded SmolLM2-135M through the local provider (greedy, at most
96 tokens). With the grammar, the provider holds the model to one call of an offered tool with
schema-valid arguments; without, the model gets the same instructions and its text is read as a
call. Reported side by side: valid JSON, a schema-valid call (a known tool, arguments valid
against its schema), the expected tool, and the time per call.

    flock /tmp/heavy.lock .venv/bin/python bench/tool_calls.py   # writes bench/results/tool_calls.md
"""

from __future__ import annotations

import asyncio
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "services/llm-orchestrator/src"), str(ROOT / "libs/common/src")]

import jsonschema  # noqa: E402

from chatbot_common.tokens import bundled_model_path  # noqa: E402
from llm_orchestrator.providers.base import ChatMessage, Delta, End, GenParams, ToolCall, ToolSpec  # noqa: E402
from llm_orchestrator.providers.constrained import as_template_messages  # noqa: E402
from llm_orchestrator.providers.local import LocalProvider  # noqa: E402

DATA = json.loads((ROOT / "bench/data/tool_calls.json").read_text())
MAX_TOKENS = 96


def judge(text: str | None, call: ToolCall | None, tools: dict[str, dict], expected: str) -> tuple[bool, bool, bool]:
    """(valid JSON, schema-valid call, right tool) for one answer."""
    if call is not None:
        name, raw = call.name, call.arguments
    else:
        try:
            value = json.loads((text or "").strip())
        except ValueError:
            return False, False, False
        if not isinstance(value, dict):
            return True, False, False
        name, raw = value.get("name"), json.dumps(value.get("arguments"))
    try:
        arguments = json.loads(raw)
    except ValueError:
        return False, False, False
    valid = name in tools and isinstance(arguments, dict)
    if valid:
        try:
            jsonschema.validate(arguments, tools[name])
        except jsonschema.ValidationError:
            valid = False
    return True, valid, name == expected


async def answer(provider: LocalProvider, messages: list[ChatMessage], params: GenParams) -> tuple[str, ToolCall | None]:
    text, call = [], None
    async for item in provider.stream("smollm2", messages, params):
        if isinstance(item, Delta):
            text.append(item.text)
        elif isinstance(item, ToolCall):
            call = item
        elif isinstance(item, End):
            break
    return "".join(text), call


async def main() -> None:
    provider = LocalProvider(bundled_model_path(), "smollm2", n_ctx=2048, threads=2, max_queue=4, default_max_tokens=MAX_TOKENS,
                             stream_interval=0)
    specs = tuple(ToolSpec(t["name"], t["description"], t["parameters"]) for t in DATA["tools"])
    schemas = {t["name"]: t["parameters"] for t in DATA["tools"]}
    constrained = GenParams(temperature=0.0, max_tokens=MAX_TOKENS, seed=1, tools=specs, tool_choice="required")
    free = GenParams(temperature=0.0, max_tokens=MAX_TOKENS, seed=1)
    rows = {"grammar": [], "no grammar": []}
    times = {"grammar": [], "no grammar": []}
    for case in DATA["cases"]:
        question = [ChatMessage("user", case["prompt"])]
        # The same prompt both ways: the tools and the call format in the system message.
        prompted = [ChatMessage(m["role"], m["content"]) for m in as_template_messages(question, constrained)]
        for mode, messages, params in (("grammar", question, constrained), ("no grammar", prompted, free)):
            started = time.perf_counter()
            text, call = await answer(provider, messages, params)
            times[mode].append(time.perf_counter() - started)
            rows[mode].append(judge(text, call, schemas, case["expected_tool"]))
    await provider.aclose()

    n = len(DATA["cases"])
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    lines = [
        "# Tool calls of the embedded model, with and without the grammar",
        "",
        f"`bench/tool_calls.py`: {n} prompts (bench/data/tool_calls.json), 5 tools offered each time, tool_choice \"required\";",
        f"SmolLM2-135M-Instruct Q4_1 (llama-cpp-python, 2 threads, greedy, at most {MAX_TOKENS} tokens). CPU: {cpu}.",
        "",
        "| | valid JSON | schema-valid call | expected tool | p50 s per call |",
        "|---|---|---|---|---|",
    ]
    for mode in ("grammar", "no grammar"):
        r = rows[mode]
        lines.append(f"| {mode} | {sum(a for a, _, _ in r)}/{n} ({sum(a for a, _, _ in r) / n:.0%}) "
                     f"| {sum(b for _, b, _ in r)}/{n} ({sum(b for _, b, _ in r) / n:.0%}) "
                     f"| {sum(c for _, _, c in r)}/{n} ({sum(c for _, _, c in r) / n:.0%}) "
                     f"| {statistics.median(times[mode]):.2f} |")
    lines += ["", "Expected tool per kind of prompt (grammar / no grammar):", ""]
    for tool in schemas:
        idx = [i for i, c in enumerate(DATA["cases"]) if c["expected_tool"] == tool]
        lines.append(f"- {tool}: {sum(rows['grammar'][i][2] for i in idx)}/{len(idx)} / {sum(rows['no grammar'][i][2] for i in idx)}/{len(idx)}")
    out = "\n".join(lines) + "\n"
    print(out)
    (ROOT / "bench/results/tool_calls.md").write_text(out)


if __name__ == "__main__":
    asyncio.run(main())
