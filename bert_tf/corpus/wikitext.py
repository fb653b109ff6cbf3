"""An article's wikitext -> its prose paragraphs, as the BERT papers' pipelines keep it.

Google's BERT "extracts only the text passages and ignores lists, tables, and headers"; this
does the same, with rules that are fast in CPython (a few regular expressions and one pass
that matches nested braces, no parser objects):

- removed with their content: comments, `<ref>`s and other non-prose tags (gallery, timeline,
  source code, ...), templates `{{...}}` (nested), tables `{|...|}` and `<table>`, links to
  files, images and categories, interlanguage links;
- kept as their text: links (`[[target|text]]` -> text, `[url text]` -> text), bold and
  italics, other HTML tags (`<small>`, `<sub>`, ...), HTML entities, and a few inline templates
  that carry words of the sentence (`{{convert|5|km}}` -> "5 km", `{{lang|de|Wort}}` -> "Wort",
  `{{nowrap|...}}`, ...);
- headings, list items (`*`, `#`, `:`, `;` lines), table remnants and horizontal rules are
  dropped as whole lines and end the paragraph they interrupt; the lines of a paragraph are
  joined with spaces; a paragraph that neither ends as a sentence ends nor holds
  PROSE_CHARS characters (a caption, a label, names left by a list) is dropped;
- a sentence that contained a formula (`<math>`, `<chem>`, `{{math}}`) is dropped later as a
  whole, rather than kept with a hole: the formula is replaced by FORMULA here and
  `sentences.split` drops any sentence holding it.
"""

import html
import re

from bert_tf.corpus.sentences import FORMULA, SPACES, join_lines

CANONICAL_DROPPED_NAMESPACES = ("file", "image", "media", "category")

_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_DROPPED_TAGS = ("ref|references|gallery|timeline|imagemap|syntaxhighlight|source|score|graph|"
                 "mapframe|maplink|templatedata|noinclude|categorytree|inputbox|hiero|"
                 "templatestyles|indicator")
_SELF_CLOSED = re.compile(rf"<(?:{_DROPPED_TAGS})\b[^>]*/>", re.I)
_DROPPED_ELEMENT = re.compile(rf"<({_DROPPED_TAGS})\b[^>]*>.*?</\1\s*>", re.S | re.I)
_FORMULA_ELEMENT = re.compile(r"<(math|chem|ce)\b[^>]*>.*?</\1\s*>|<math\b[^>]*/>", re.S | re.I)
_HTML_TABLE = re.compile(r"<table\b.*?</table\s*>", re.S | re.I)
_BRACES = re.compile(r"\{\{|\}\}")
_TABLE_EDGE = re.compile(r"^[ \t]*(\{\||\|\})", re.M)
_INNER_LINK = re.compile(r"\[\[((?:[^\[\]]|\[(?!\[)|\](?!\]))*)\]\]")
_EXTERNAL_LINK = re.compile(r"\[(?:https?:|ftp:|//|mailto:)[^\s\]]*\s*([^\]]*)\]", re.I)
_QUOTES = re.compile(r"'{2,}")
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*\b[^<>]*>")
_BR = re.compile(r"<br\s*/?>", re.I)
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_EMPTY_PARENS = re.compile(r"\(\s*(?:[,;:]\s*)*\)|\[\s*\]")
_OPEN_PAREN_JUNK = re.compile(r"\(\s*[,;:]\s*")
_JUNK_BEFORE_CLOSE = re.compile(r"\s*[,;:]\s*\)")
_SPACE_BEFORE_PUNCT = re.compile(r" +([,.;:!?)])")
_DROPPED_LINE = re.compile(r"^\s*(?:[*#:;]|=.*=\s*$|[|!]|-{4,}|\{\||\|\})")
_ZERO_WIDTH = re.compile(r"[\u200b\u200e\u200f\ufeff]")
_CLOSERS = "\"'”’»)]」』）"
TERMINAL = ".!?。！？…؟।"
PROSE_CHARS = 100

DISAMBIGUATION = re.compile(
    r"\{\{\s*(?:disambiguation|disambig|dab|disamb|hndis|geodis|surname|given name|"
    r"set index article|sia|place name disambiguation|letter-number combination disambiguation|"
    r"mountainindex|shipindex|roadindex|school disambiguation|hospital disambiguation|"
    r"number disambiguation|species latin name disambiguation)\s*(?:\||\}\})", re.I)


def is_disambiguation(title, text):
    """Disambiguation (and set-index) pages: a title ending in "(disambiguation)" or one of the
    templates English Wikipedia marks them with (other languages: by the title only)."""
    return title.endswith("(disambiguation)") or bool(DISAMBIGUATION.search(text))


# ---------------------------------------------------------------------- inline templates
def _param(params, index, default=""):
    return params[index] if len(params) > index else default


def _positional(params):
    return [p for p in params[1:] if not re.match(r"\s*[\w-]+\s*=", p)]


def _convert(params):
    p = _positional(params)
    if len(p) >= 3 and p[1].strip() in ("-", "–", "to", "and", "or", "by", "x", "×", "+", "to(-)"):
        return f"{p[0]} {p[1].strip()} {p[2]} {_param(p, 3)}".strip()
    return f"{_param(p, 0)} {_param(p, 1)}".strip()


def _last(params):
    p = _positional(params)
    return p[-1] if p else ""


def _first(params):
    return _param(_positional(params), 0)


def _val(params):
    unit = next((p.split("=", 1)[1] for p in params if p.strip().startswith(("u=", "ul="))), "")
    return f"{_first(params)} {unit}".strip()


def _frac(params):
    p = _positional(params)
    if len(p) == 3:
        return f"{p[0]} {p[1]}/{p[2]}"
    return "/".join(p)


def _formula(params):
    return FORMULA


INLINE_TEMPLATES = {
    "convert": _convert, "cvt": _convert, "lang": _last, "transl": _last, "transliteration": _last,
    "nowrap": _first, "nobr": _first, "small": _first, "smaller": _first, "big": _first,
    "vanchor": _first, "visible anchor": _first, "nihongo": _first, "ill": _first,
    "interlanguage link": _first, "abbr": _first, "sic": _last, "nts": _first, "val": _val,
    "frac": _frac, "sortname": lambda p: " ".join(_positional(p)[:2]), "flag": _first,
    "as of": lambda p: "as of " + " ".join(_positional(p)[:3]), "circa": lambda p: "c. " + _first(p),
    "keypress": lambda p: "+".join(_positional(p)), "angbr": lambda p: f"⟨{_first(p)}⟩",
    "nbsp": lambda p: " ", "'s": lambda p: "'s", "'": lambda p: "'", "!": lambda p: "|",
    "·": lambda p: " · ", "ndash": lambda p: "–", "mdash": lambda p: "—", "snd": lambda p: " – ",
    "spaced ndash": lambda p: " – ", "math": _formula, "mvar": _formula, "chem": _formula,
    "chem2": _formula, "bigmath": _formula, "tmath": _formula,
}


def _split_params(body):
    """A template's body split on its top-level pipes (not those inside links or templates)."""
    params, depth, start = [], 0, 0
    for m in re.finditer(r"\[\[|\]\]|\{\{|\}\}|\|", body):
        token = m.group()
        if token in ("[[", "{{"):
            depth += 1
        elif token in ("]]", "}}"):
            depth = max(0, depth - 1)
        elif depth == 0:
            params.append(body[start:m.start()])
            start = m.end()
    params.append(body[start:])
    return params


def _render_template(body):
    """The words an inline template puts in the sentence, or "" for every other template."""
    name = body.split("|", 1)[0].strip().lower().replace("_", " ")
    render = INLINE_TEMPLATES.get(name)
    if render is None and name.startswith("lang-"):
        render = _last
    if render is None:
        return ""
    return remove_templates(render(_split_params(body)))


def remove_templates(text):
    """Every top-level `{{...}}` (with what it nests) replaced by its inline words or nothing;
    an unclosed `{{` is dropped as two characters, the text after it kept."""
    if "{{" not in text:
        return text
    out, depth, start, last = [], 0, 0, 0
    for m in _BRACES.finditer(text):
        if m.group()[0] == "{":
            if depth == 0:
                out.append(text[last:m.start()])
                start = m.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                body = text[start + 2:m.start()]
                out.append(_render_template(body))
                last = m.end()
    if depth:
        out.append(remove_templates(text[start + 2:]))
    else:
        out.append(text[last:])
    return "".join(out)


def remove_tables(text):
    """Wiki tables `{| ... |}` (nested, each edge at the start of a line) and HTML tables."""
    if "<table" in text or "<TABLE" in text:
        text = _HTML_TABLE.sub("\n", text)
    if "{|" not in text:
        return text
    out, depth, last = [], 0, 0
    for m in _TABLE_EDGE.finditer(text):
        if m.group(1) == "{|":
            if depth == 0:
                out.append(text[last:m.start()])
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                last = m.end()
    out.append("" if depth else text[last:])
    return "\n".join(out)


# ---------------------------------------------------------------------- links
class LinkRules:
    """Which `[[Prefix:...]]` links are dropped: files, images, categories (the dump's own
    names for namespaces 6, 14 and -2 plus the English canonical ones), and interlanguage
    links."""

    def __init__(self, namespace_names=()):
        self.dropped = set(CANONICAL_DROPPED_NAMESPACES) | {n.lower() for n in namespace_names}

    def render(self, match):
        inner = match.group(1)
        target, pipe, label = inner.partition("|")
        prefix, colon, rest = target.partition(":")
        if colon:
            key = prefix.strip().lower()
            if key in self.dropped or (not pipe and re.fullmatch(r"[a-z]{2,3}(?:-[a-z]+)*", key)
                                       and not target.startswith(":")):
                return ""
        if pipe:
            label = label.rsplit("|", 1)[-1] if "|" in label else label
            return label if label.strip() else target.split("(")[0].strip()
        return target.lstrip(":")


def replace_links(text, rules):
    """Innermost links first, so that a file's caption links go before the file itself."""
    for _ in range(8):
        text, count = _INNER_LINK.subn(rules.render, text)
        if not count:
            break
    return text


# ---------------------------------------------------------------------- the whole article
def clean_inline(text):
    """Bold/italic quotes, remaining tags, entities and odd spaces of one paragraph."""
    text = _QUOTES.sub("", text)
    text = _BR.sub(" ", text)
    if "<" in text:
        text = _TAG.sub("", text)
    if "&" in text:
        text = html.unescape(text)
        if "<" in text:  # &lt;ref&gt; written as an escape in the wikitext
            text = _SELF_CLOSED.sub("", _DROPPED_ELEMENT.sub("", text))
    text = _ZERO_WIDTH.sub("", text)
    if "(" in text or "[" in text:
        text = _OPEN_PAREN_JUNK.sub("(", _EMPTY_PARENS.sub("", text))
        text = _JUNK_BEFORE_CLOSE.sub(")", text)
    return _SPACE_BEFORE_PUNCT.sub(r"\1", SPACES.sub(" ", text)).strip()


def is_prose(paragraph):
    """A paragraph that ends as a sentence ends, or is long enough to be one (a label, a
    caption or a row of names left by a list or a table is neither)."""
    return len(paragraph) >= PROSE_CHARS or paragraph.rstrip(_CLOSERS)[-1:] in TERMINAL


def paragraphs(wikitext, rules):
    """The prose paragraphs of an article, each one line of plain text."""
    text = _COMMENT.sub("", wikitext)
    if "<" in text:
        text = _SELF_CLOSED.sub("", text)
        text = _DROPPED_ELEMENT.sub("", text)
        text = _FORMULA_ELEMENT.sub(FORMULA, text)
    text = remove_tables(remove_templates(text))
    text = _EXTERNAL_LINK.sub(r"\1", replace_links(text, rules))
    text = _MAGIC_WORD.sub("", text)
    result, current = [], []
    for line in text.split("\n"):
        if not line.strip() or _DROPPED_LINE.match(line):
            if current:
                result.append(join_lines(current))
                current = []
            continue
        current.append(line)
    if current:
        result.append(join_lines(current))
    return [p for p in (clean_inline(p) for p in result) if p and is_prose(p)]
