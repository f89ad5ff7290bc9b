/**
 * Tool-call arguments as a person reads them before approving: the JSON the model wrote,
 * indented, with every token kept as written (a number past 2^53 is not rounded, an escape is
 * not decoded) and every invisible or direction-changing character shown as its \u escape, so
 * what the card shows is what runs. The result is still JSON with the same value.
 */

// Format characters that change how text around them reads or that take no space: soft hyphen,
// combining grapheme joiner, Arabic letter mark, Hangul fillers, Mongolian selectors, zero-width
// and direction marks and embeddings (U+200B-U+200F, U+202A-U+202E), line and paragraph
// separators, word joiner to nominal digit shapes (U+2060-U+206F, the isolates among them),
// variation selectors, BOM, interlinear annotations, and in plane 14 the tag characters and the
// supplementary variation selectors (U+E0000-U+E01EF: text can hide in them).
const INVISIBLE =
  /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u2028-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF9-\uFFFB]|\uDB40[\uDC00-\uDDEF]/g;

const escapeUnit = (unit: number) => "\\u" + unit.toString(16).toUpperCase().padStart(4, "0");

/** `text` with each invisible character written as its escape (both halves of a pair). */
export function showInvisible(text: string): string {
  return text.replace(INVISIBLE, (c) => Array.from({ length: c.length }, (_, i) => escapeUnit(c.charCodeAt(i))).join(""));
}

/** Valid JSON re-indented token by token; anything else returned as it came (invisibles shown). */
export function prettyJson(raw: string): string {
  try {
    JSON.parse(raw);
  } catch {
    return showInvisible(raw);
  }
  let out = "";
  let depth = 0;
  let inString = false;
  let escaped = false;
  const newline = () => "\n" + "  ".repeat(depth);
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (inString) {
      out += c;
      if (escaped) escaped = false;
      else if (c === "\\") escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === " " || c === "\t" || c === "\n" || c === "\r") continue;
    if (c === '"') {
      inString = true;
      out += c;
    } else if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]";
      let j = i + 1;
      while (j < raw.length && " \t\n\r".includes(raw[j])) j++;
      if (raw[j] === close) {
        out += c + close;
        i = j;
      } else {
        depth++;
        out += c + newline();
      }
    } else if (c === "}" || c === "]") {
      depth--;
      out += newline() + c;
    } else if (c === ",") {
      out += "," + newline();
    } else if (c === ":") {
      out += ": ";
    } else {
      out += c;
    }
  }
  return showInvisible(out);
}
