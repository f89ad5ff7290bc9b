"""Links and images to hosts outside an allow-list, neutralised however they are written.

An image loads by itself and a link leaves with a click, so either can carry a conversation out
to any host (in its query, fragment, path or even sub-domain). Every way of writing one that a
Markdown renderer or a browser honours is covered: inline Markdown (`![a](u)`, `[a](u)`, also
when the text part is odd or missing), reference definitions (`[r]: u`), autolinks (`<u>`),
raw HTML (`<img src>`, `<a href>`, `srcset`, `<iframe>`, `<script src>`, `<link>`, style
`url()`, ...), CSS `url()` and bare URLs (`https://…`, `//…`, `www.…`, and `host.tld/…?…`).

A destination is allowed when it is relative (stays on this site), a same-page fragment, or an
http(s) URL whose host is on the allow-list (or under one). Anything else, and anything this
module cannot read with certainty (entities, escapes, backslashes, odd schemes), fails closed.
The text of a Markdown link or image is kept; the destination never is.
"""

from __future__ import annotations

import html
import re
from collections import Counter

# Cheap test: without one of these, nothing below can match.
TRIGGER = re.compile(r"[\]<]|//|www\.|url\(|@import|/\S*\?", re.IGNORECASE)

_IMAGE_TAGS = frozenset({"img", "image", "picture", "source", "video", "audio", "input", "track", "use", "feimage"})
# Tags that load or run something by their mere presence: never worth keeping in a chat answer.
_ALWAYS = frozenset({"script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta", "link",
                     "portal", "bgsound"})
_URL_ATTRS = frozenset({"src", "href", "xlink:href", "srcset", "imagesrcset", "poster", "background", "data", "action",
                        "formaction", "lowsrc", "dynsrc", "longdesc", "ping", "cite", "manifest", "codebase", "archive",
                        "icon", "profile", "content", "style"})

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
# WHATWG URL parsing drops ASCII tab and newline anywhere, and C0 controls and spaces at both ends.
_URL_NOISE = re.compile(r"[\t\n\r]")
_C0 = "".join(chr(c) for c in range(0x21))


def _clean(url: str, markdown: bool) -> str:
    url = url.strip()
    if url.startswith("<"):
        url = url[1:].removesuffix(">")
    if markdown:
        url = _MD_ESCAPE.sub(r"\1", url)
    # Entities are decoded in Markdown destinations and HTML attributes alike; a browser reads a
    # backslash as a slash in http(s) URLs (so `\\host` and `/\host` are other hosts).
    url = html.unescape(url).replace("\\", "/")
    return _URL_NOISE.sub("", url).strip(_C0)


def _host(rest: str) -> str:
    """The host of what follows `scheme:` or starts with `//`, as a browser would pick it."""
    authority = re.split(r"[/?#]", rest.lstrip("/"), maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.partition(":")[0].lower().rstrip(".")


def host_allowed(host: str, allowed: frozenset[str]) -> bool:
    return bool(host) and any(host == a or host.endswith("." + a) for a in allowed)


def dest_allowed(url: str, allowed: frozenset[str], *, markdown: bool = False) -> bool:
    url = _clean(url, markdown)
    if not url or url.startswith("#"):
        return True
    if m := _SCHEME.match(url):
        if m.group(1).lower() not in ("http", "https"):
            return False  # javascript:, data:, mailto:, ftp:, ... (and anything that only looks like a scheme)
        rest = url[m.end():]
    elif url.startswith("//"):
        rest = url
    else:
        return True  # relative: resolved against this site
    return host_allowed(_host(rest), allowed)


# Inline Markdown: `![alt](dest "title")` and `[text](dest)`; the destination may hold balanced
# parentheses and backslash escapes, or be written in angle brackets.
_DEST = r"(<[^<>\n]*>?|(?:[^\s()\\]|\\[\s\S]|\((?:[^\s()\\]|\\[\s\S])*\))*)"
_MD_INLINE = re.compile(r"(!?)\[([^\[\]\n]{0,1000})\]\(\s*" + _DEST + r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?\s*\)")
# Whatever the text part looks like (nested brackets, images inside links), a destination follows `](`.
_MD_DEST = re.compile(r"\]\(\s*" + _DEST)
# `[ref]: dest`, the destination on the same line or the next.
_MD_REFDEF = re.compile(r"\[[^\[\]\n]{1,999}\]:[ \t]*\n?[ \t]*(<[^<>\n]*>?|\S+)")
_AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.\-]{1,31}:[^\s<>]*)>")
# Element names a browser or a Markdown renderer turns into an element: the HTML, SVG and MathML
# ones, and custom elements (a hyphen in the name). Anything else after `<` ("x<y only", "i<n") is
# prose, never held or rewritten.
_ELEMENTS = (
    "a|abbr|address|animate\\w*|area|article|aside|audio|b|bdi|bdo|blockquote|body|br|button|canvas|caption|circle|cite|code|col|"
    "colgroup|data|datalist|dd|del|details|dfn|dialog|div|dl|dt|ellipse|em|embed|feimage|fieldset|figcaption|figure|"
    "font|footer|foreignobject|form|frame|frameset|g|h[1-6]|head|header|hgroup|hr|html|i|iframe|image|img|input|ins|"
    "isindex|kbd|label|legend|li|line|link|main|map|mark|math|menu|meta|meter|mglyph|mi|mo|ms|mtext|nav|noembed|"
    "noframes|noscript|object|ol|optgroup|option|output|p|param|path|picture|polygon|polyline|portal|pre|progress|q|rect|rp|rt|"
    "ruby|s|samp|script|search|section|select|slot|small|source|span|strong|style|sub|summary|sup|svg|table|tbody|td|"
    "template|text|textarea|tfoot|th|thead|time|title|tr|track|tspan|u|ul|use|var|video|wbr|xmp|applet|base|basefont|"
    "bgsound|blink|marquee|layer|ilayer|keygen|listing|plaintext|spacer|tt|nobr|center|strike|big|image"
)
_NAME = rf"(?i:(?:{_ELEMENTS})(?![a-zA-Z0-9:-])|[a-zA-Z][a-zA-Z0-9]*-[a-zA-Z0-9:._-]*)"  # (inline flag: SPANS joins patterns)
# An HTML start tag, also one whose `>` has not come (yet): a renderer may close it later. An
# unclosed one ends at a blank line (no renderer reads a tag across paragraphs) and is not taken
# for one past OPEN_TAG_LIMIT characters.
_TAG = re.compile(r"<(" + _NAME + r")((?:\s|/)(?:\"[^\"]*(?:\"|\Z)|'[^']*(?:'|\Z)|(?!\n[ \t]*\n)[^>\"']){0,4000})?(>|\Z)",
                  re.IGNORECASE)
_ATTR = re.compile(r"([^\s\"'>/=]+)(?:\s*=\s*(\"[^\"]*\"?|'[^']*'?|[^\s>]*))?")
_CSS_URL = re.compile(r"(?:url|image|image-set|src)\(\s*(\"[^\"]*\"?|'[^']*'?|[^)\s]*)|@import\s*(\"[^\"]*\"?|'[^']*'?)",
                      re.IGNORECASE)
# Bare URLs a renderer turns into links: scheme://…, //…, www.…, and host.tld/…?… (linkify).
_BARE = re.compile(
    r"(?:\b[a-zA-Z][a-zA-Z0-9+.\-]{0,31}:)?//[^\s<>/?#]*(?:[/?#][^\s<>\"'`]*)?"  # (any character may be in the host)
    r"|\bwww\.[^\s<>/?#]+(?:[/?#][^\s<>\"'`]*)?"
    r"|(?<![\w@.\-])(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}(?::\d{1,5})?/[^\s<>\"'`?]*\?[^\s<>\"'`]*")
_TRAILING = ".,;:!?'\")]}*_~`"


def _css_allowed(value: str, allowed: frozenset[str]) -> bool:
    if "\\" in value:
        return False  # CSS escapes (`\2f`) can spell any URL
    return all(dest_allowed((m.group(1) or m.group(2) or "").strip("\"'"), allowed) for m in _CSS_URL.finditer(value))


def _tag_allowed(name: str, attrs: str, closed: bool, allowed: frozenset[str]) -> bool:
    if name in _ALWAYS:
        return False
    decoded = _clean(attrs, markdown=False)
    for m in _BARE.finditer(decoded):  # any attribute, known or not, naming another host
        if _bare_host(m.group(0)) and not _bare_allowed(m.group(0), allowed):
            return False
    if not _css_allowed(html.unescape(attrs), allowed):
        return False
    for m in _ATTR.finditer(attrs):
        key, value = m.group(1).lower(), html.unescape((m.group(2) or "").strip("\"'"))
        if key not in _URL_ATTRS and not key.startswith("on"):
            continue
        if key.startswith("on"):
            if m.group(2) is None:
                continue  # a bare word ("only", "once") in prose read as attributes: no handler
            return False  # script in an event handler can fetch anything
        if key in ("srcset", "imagesrcset"):
            urls = [c.split()[0] for c in value.split(",") if c.split()]
        elif key == "content":
            urls = re.findall(r"(?i)url\s*=\s*(\S+)", value)  # meta refresh
        elif key == "style":
            continue  # checked above
        else:
            urls = [value]
        if not all(dest_allowed(u, allowed) for u in urls):
            return False
    # A tag still open at the end of the text: a renderer may close it with a later `>`.
    return closed or name not in _IMAGE_TAGS and name not in ("a", "area", "form", "button", "table", "td", "th", "body")


def _bare_host(url: str) -> str:
    if url.lower().startswith("www."):
        return _host(url)
    if m := _SCHEME.match(url):
        url = url[m.end():]
    return _host(url)


def _bare_allowed(url: str, allowed: frozenset[str]) -> bool:
    m = _SCHEME.match(url)
    if m and m.group(1).lower() not in ("http", "https") or "\\" in url:
        return False  # a browser reads `\` as `/`, a Markdown renderer as an escape: no telling the host
    return host_allowed(_bare_host(url), allowed)


# Character references: `&#104;ttps`, `&#47;&#47;`, `&sol;`, `&period;` spell a URL that every
# renderer decodes. Those standing for printable ASCII (but markup: < > & " ') are decoded before
# anything is looked at, so one reading serves Markdown, HTML and bare text alike.
_ENTITY = re.compile(r"&(?:#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,7}|[A-Za-z][A-Za-z0-9]{1,31});?")


def _plain_entity(m: re.Match) -> str:
    ch = html.unescape(m.group(0))
    return ch if len(ch) == 1 and "!" <= ch <= "~" and ch not in "<>&\"'" else m.group(0)


def _dest_spans(text: str, allowed: frozenset[str], partial: bool) -> list[tuple[int, int]]:
    """Every `](` starts a destination, whatever came before it (nested brackets, an image in a
    link): each is checked, also one inside another's span. In a piece that more text follows, a
    destination that runs to its end may still change host: it goes."""
    spans: list[tuple[int, int]] = []
    pos = text.find("](")
    while pos >= 0:
        m = _MD_DEST.match(text, pos)
        if m and ((partial and m.end() == len(text)) or not dest_allowed(m.group(1), allowed, markdown=True)):
            if spans and pos < spans[-1][1]:
                spans[-1] = (spans[-1][0], max(spans[-1][1], m.end()))
            else:
                spans.append((pos, m.end()))
        pos = text.find("](", pos + 2)
    return spans


def neutralise(text: str, allowed: frozenset[str], found: Counter, *, partial: bool = False) -> str:
    """`text` with every image and link to a host outside `allowed` neutralised. `partial`:
    more text follows, so a tag still open at the end is neutralised whatever it holds."""

    def inline(m: re.Match) -> str:
        if dest_allowed(m.group(3), allowed, markdown=True):
            return m.group(0)
        if m.group(1):
            found["IMAGE"] += 1
            return f"[image removed: {m.group(2)}]" if m.group(2) else "[image removed]"
        found["LINK"] += 1
        return f"{m.group(2)} [link removed]" if m.group(2) else "[link removed]"

    def refdef(m: re.Match) -> str:
        if dest_allowed(m.group(1), allowed, markdown=True):
            return m.group(0)
        found["LINK"] += 1
        return "[link removed]"

    def autolink(m: re.Match) -> str:
        if dest_allowed(m.group(1), allowed):
            return m.group(0)
        found["LINK"] += 1
        return "[link removed]"

    def tag(m: re.Match) -> str:
        name = m.group(1).lower()
        closed = m.group(3) == ">"
        # A tag cut off by the end of a piece that more text follows is neutralised whatever it
        # holds: its remaining attributes will arrive apart from it.
        if (closed or not partial) and _tag_allowed(name, m.group(2) or "", closed, allowed):
            return m.group(0)
        kind = "IMAGE" if name in _IMAGE_TAGS else "LINK"
        found[kind] += 1
        return f"[{kind.lower()} removed]"

    def css(m: re.Match) -> str:
        value = (m.group(1) or m.group(2) or "").strip("\"'")
        if dest_allowed(value, allowed) and "\\" not in value:
            return m.group(0)
        found["IMAGE"] += 1
        return m.group(0)[: m.start(1 if m.group(1) is not None else 2) - m.start()]

    def bare(m: re.Match) -> str:
        url = m.group(0)
        kept = url.rstrip(_TRAILING)
        if not _bare_host(kept) or (_bare_allowed(kept, allowed) and not (partial and m.end() == len(text))):
            return url
        found["LINK"] += 1
        return "[link removed]" + url[len(kept):]

    if "&" in text:
        text = _ENTITY.sub(_plain_entity, text)
    if "](" in text:
        text = _MD_INLINE.sub(inline, text)
        if spans := _dest_spans(text, allowed, partial):
            found["LINK"] += len(spans)
            out, last = [], 0
            for start, end in spans:
                out += [text[last:start], "] [link removed]"]
                last = end
            text = "".join(out) + text[last:]
    if "]:" in text:
        text = _MD_REFDEF.sub(refdef, text)
    if "<" in text:
        text = _AUTOLINK.sub(autolink, text)
        text = _TAG.sub(tag, text)
    if "(" in text or "@" in text:
        text = _CSS_URL.sub(css, text)
    return _BARE.sub(bare, text)


# Constructs that may still become a link once more text comes: where to hold a stream from.
_OPEN = re.compile(
    r"!?\[[^\[\]\n]{0,1000}(?:\]|\]\((?:[^)\n\\]|\\[\s\S]?){0,4000})?\Z"  # [text  [text]  [text](dest…
    r"|\]\((?:[^)\n\\]|\\[\s\S]?){0,4000}\Z"  # …](dest… after an odd text part (a renderer may read `\` + newline as part of it)
    r"|\[[^\[\]\n]{1,999}\]:[ \t]*(?:\n[ \t]*)?\S*\Z"  # [ref]: dest…
    r"|<" + _NAME + r"(?:(?:\s|/)(?:\"[^\"]*(?:\"|\Z)|'[^']*(?:'|\Z)|(?!\n[ \t]*\n)[^>\"'])*)?\Z"  # <tag attr=…
    r"|(?:url|image|image-set|src)\(\s*[^)\n]*\Z", re.IGNORECASE)
# Everything whose start must not be released while its end is still held.
SPANS = re.compile("|".join(p.pattern for p in (_MD_INLINE, _MD_DEST, _MD_REFDEF, _AUTOLINK, _TAG, _CSS_URL, _BARE)))
OPEN_TAG_LIMIT = 4000  # a tag held longer is released neutralised (prose like `a <b and c` never closes)


def open_at(text: str) -> int | None:
    """Where a construct that is still open at the end of `text` starts, if one is."""
    pos = max(0, len(text) - 6000)
    while (m := _OPEN.search(text, pos)) is not None:
        if text[m.start()] != "<" or len(text) - m.start() <= OPEN_TAG_LIMIT:
            return m.start()
        pos = m.start() + 1  # a tag open too long is let go (released neutralised)
    return None
