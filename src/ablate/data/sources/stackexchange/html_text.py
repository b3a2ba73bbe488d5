"""HTML (a Stack Exchange post body) to markdown-ish plain text, the way LIMA section 2.1 did
it: code blocks and lists kept, links and images removed.

html2text does the parsing (entities, nesting, lists, <pre>); a subclass fixes what it gets
wrong for this use, and a line pass lays the result out. What a converted text looks like:

- Code: <pre> becomes a ``` fence (a longer one when the code holds ``` lines), its lines
  byte for byte; inline <code> becomes `code` (``code`` when it holds a backtick). Nothing
  inside code is touched: no emphasis markers, no link or URL removal, no escaping.
- No markdown escaping: html2text's backslashes ("\\-", "1\\.", "\\+") are never written, so
  the text reads as the author wrote it.
- Lists: "- " and "1. "; a top-level list starts at column 0 and nesting indents by the
  width of the parent's marker (2 for "- ", 3 for "1. "); a list item's further paragraphs,
  <br> lines and code blocks are indented to its text.
- Links: prose link text is kept and the URL dropped. A link whose text is itself a URL (an
  auto-link, or a shortened display form like "https://example.com/very/long/..." or
  "example.com/docs") is dropped whole, as are footnote-style "[1]" links, and so are bare
  URLs in the prose (not in code). Where a URL was removed, what it leaves is tidied:
  - a run of URLs ("url1, url2 and url3") counts as one; brackets, quotes or emphasis that
    only held it go with it; so does a short parenthetical around it ("(see url)");
  - a colon introducing it goes, with a label before the colon ("Source:", "docs:"), and so
    do a word it leaves dangling (see, visit, at, in, from, according to, ...) and a
    conjunction joining it ("... or visit url today" -> "... today"): "Wikipedia has an
    overview: url" -> "Wikipedia has an overview.", "the study at url if needed" -> "the
    study if needed";
  - a sentence left with fewer than 4 words ("See url for details.", "Source: url", "More
    details here: url") is dropped; in a list item or heading only what is left empty goes;
  - a line left empty is dropped, and so are a closing sentence ending in ":" whose whole
    following paragraph or list was URLs ("Sources:" above a list of links) and a heading
    whose whole section was.
  These are heuristics: a sentence can still lose a word it needed. Email addresses are
  text, not links, and stay.
- Images vanish with their alt text.
- <hr> is a "---" line between blank lines (a markdown rule, which "* * *" also was, but
  "---" is the form people write); one at the very start or end, or right after another,
  separates nothing and is dropped; inside a list item or table it is a blank line.
- Emphasis: <strong>/<b> is **bold**, <em>/<i> is *italic* (not _italic_: underscores read as
  part of identifiers), with no stray space before punctuation ("**No**, ..." not
  "**No** , ..."); strikethrough stays ~~struck~~ (the author's own correction).
- <kbd> is plain text ("Ctrl+C", not "`Ctrl`+`C`"); <sup> is "^2" or "^(n-1)" ("5th" for
  ordinals), <sub> plain text ("H2O").
- Blockquotes are "> " lines with no empty ">" line opening or closing a quote; headings
  stay "# ..."; tables are "a | b" rows under a "--- | ---" rule.
- Entities are unescaped; a no-break space is a plain space outside code; trailing spaces
  (html2text's hard-break markers) are dropped and blank runs collapse to one, outside code.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

# Markers the converter writes for the line pass; control characters no HTML body may hold
# (XML 1.0 forbids them; they are stripped from the input, and character references to them
# are dropped).
_URL = "\x00"  # a removed link or URL
_FENCE = "\x01"  # follows the opening and the closing ``` of a code block
_CODE_OPEN, _CODE_CLOSE = "\x02", "\x03"  # an inline code span
_SUP_OPEN, _SUP_CLOSE = "\x04", "\x05"  # a superscript
_HR = "\x06"  # a horizontal rule, alone on its line
_CONTROLS = re.compile("[\x00-\x06]")
_MARKERS = re.compile("[\x00-\x05]")  # all but _HR


# --- which links to drop ------------------------------------------------------------------

_SCHEME_URL = re.compile(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S+", re.IGNORECASE)
_REFERENCE = re.compile(r"\[\d{1,3}\]|\(\d{1,3}\)|\d{1,3}")  # "[1]": points at a URL list
_ELISION = re.compile(r"(?:\.\.\.|…)$")


def _bare_url(url: str) -> str:
    url = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.strip().lower())
    return url.removeprefix("www.")


def is_url_text(text: str, href: str = "") -> bool:
    """Whether a link's text is a URL rather than prose: a scheme or www. URL (shortened
    displays included), a footnote number "[1]", or the href itself without its scheme
    ("python.org" for https://www.python.org/, "example.com/very/long/..." for a longer one).
    """
    text = " ".join(text.split())
    if not text:
        return False
    if _SCHEME_URL.fullmatch(text) or (href and _REFERENCE.fullmatch(text)):
        return True
    shown = _bare_url(_ELISION.sub("", text)).rstrip("/")
    return bool(href) and "." in shown and " " not in shown and (
        _bare_url(href).startswith(shown))


# --- the converter ------------------------------------------------------------------------

_EMPHASIS = frozenset(("strong", "b", "em", "i", "u", "del", "s", "strike"))
# Tags after which a list item's pending indent no longer applies (html2text places these).
_BLOCKS = frozenset(("li", "ul", "ol", "pre", "blockquote", "hr", "table", "tr", "td", "th",
                     "h1", "h2", "h3", "h4", "h5", "h6", "dl", "dt", "dd"))


def _converter_class() -> type:
    try:
        import html2text
    except ImportError as exc:  # a declared dependency, but say what to install if missing
        raise ImportError("html_to_text needs html2text: pip install html2text") from exc

    class Converter(html2text.HTML2Text):
        """html2text with the settings above and its artefacts fixed at the source."""

        def __init__(self) -> None:
            super().__init__(bodywidth=0)  # no re-wrapping: lines stay as written
            self.ignore_links = True  # link text kept, URL dropped (URL-text links: below)
            self.ignore_images = True  # the image and its alt text both go
            self.backquote_code_style = True  # <pre> becomes a ``` fence
            self.ul_item_mark = "-"
            self.emphasis_mark = "*"
            self.unicode_snob = True  # keep non-ASCII characters, not ASCII look-alikes
            # Open <a>s: where their text starts in outtextlist (-1: not written), href.
            self._links: list[tuple[int, str]] = []
            # Indent owed by the next output: a list item's second paragraph or <br> line.
            self._indent: str | None = None

        def charref(self, name: str) -> str:
            char: str = super().charref(name)
            return "" if _CONTROLS.match(char) else char

        def handle_data(self, data: str, entity_char: bool = False) -> None:
            # html2text puts a space after emphasis before any non-bracket character
            # ("**No** ,"); only a word needs one.
            if self.preceding_stressed and data and not data[0].isalnum():
                self.preceding_stressed = False
            # entity_char=True is what skips html2text's markdown escaping.
            super().handle_data(data, True)

        def o(self, data: str, puredata: bool = False, force: bool | str = False) -> None:
            if self._indent is not None and data and not self.quiet:
                if puredata and not self.pre:
                    data = data.lstrip()
                    if not data:
                        return
                indent, self._indent = self._indent, None
                super().o(indent)
            opens = self.startpre and not self.quiet and bool(data or force)
            written = len(self.outtextlist)
            super().o(data, puredata, force)
            if opens and len(self.outtextlist) > written:  # the first write: the fence
                self.outtextlist[written] += _FENCE

        def handle_tag(self, tag: str, attrs: dict[str, str | None], start: bool) -> None:
            if tag in _BLOCKS:
                self._indent = None
            if not self._handled(tag, attrs, start):
                super().handle_tag(tag, attrs, start)

        def _handled(self, tag: str, attrs: dict[str, str | None], start: bool) -> bool:
            self.current_tag = tag
            in_code = self.pre or self.code
            if tag == "a":
                self._link(start, attrs.get("href") or "")
            elif tag in _EMPHASIS and in_code:
                pass  # code stays as written: no ** or * inside it
            elif tag in ("code", "tt") and not self.pre:
                if start != self.code:
                    self.o(_CODE_OPEN if start else _CODE_CLOSE)
                    self.code = start
            elif tag in ("kbd", "sub"):
                pass  # plain text
            elif tag == "sup":
                if not in_code:
                    self.o(_SUP_OPEN if start else _SUP_CLOSE)
            elif tag == "hr":
                if start:  # a rule inside a list item or table would break it: a blank line
                    self.p()
                    if not (self.list or self.td_count):
                        self.o(_HR)
                        self.p()
            elif tag == "pre" and not start:
                self._end_pre()
            elif tag == "p" and start and self.list and not self.pre:
                return self._list_paragraph()
            elif tag == "br" and start and (self.list or self.blockquote) and not self.pre:
                # A <br> in a quote or list item: the next line carries the quote's ">" and
                # the item's indent, and no space of its own (html2text writes ">  next").
                self.o("  \n" + (">" * self.blockquote + " " if self.blockquote else ""))
                self._indent = self.list_code_indent if self.list else ""
            elif tag in ("td", "th") and not (self.ignore_tables or self.bypass_tables):
                if start:
                    if self.split_next_td:
                        self.o(" | ")
                    self.split_next_td = True
                    self.td_count += 1
            elif tag == "tr" and not start and not (self.ignore_tables or self.bypass_tables):
                self.split_next_td = False
                self.soft_br()
                if self.table_start:
                    self.o(" | ".join(["---"] * self.td_count))
                    self.soft_br()
                    self.table_start = False
            else:
                return False
            return True

        def _link(self, start: bool, href: str) -> None:
            """A link's text is written as usual after a _URL marker (which also flushes any
            pending line breaks and spaces); at its end, a URL-like text is cut off after
            the marker, and prose text loses the marker."""
            if start:
                self.o(_URL)
                marked = bool(self.outtextlist) and self.outtextlist[-1] == _URL
                self._links.append((len(self.outtextlist) if marked else -1, href))
                return
            if not self._links:
                return
            mark, href = self._links.pop()
            if mark < 0:
                return
            text = _MARKERS.sub("", "".join(self.outtextlist[mark:])).strip("*~ \n")
            if is_url_text(text, href) and not (self.pre or self.code):
                del self.outtextlist[mark:]
                self.lastWasNL = False
            else:
                self.outtextlist[mark - 1] = ""

        def _end_pre(self) -> None:
            self.pre = False
            if self.startpre:  # an empty <pre>: html2text would write a lone closing fence
                self.startpre = False
            else:
                self.out("\n" + self.pre_indent + "```" + _FENCE)
            self.p()

        def _list_paragraph(self) -> bool:
            """A list item's second paragraph: indented to the item's text, where html2text
            starts it at column 0 (which ends the list in markdown)."""
            if self.start:
                return False  # the item's first paragraph follows its bullet
            self.p()
            self._indent = self.list_code_indent
            return True

    return Converter


_CONVERTER: type | None = None


def _converter() -> Any:
    global _CONVERTER
    if _CONVERTER is None:
        _CONVERTER = _converter_class()
    # A fresh converter per call: HTML2Text keeps parse state between handle() calls.
    return _CONVERTER()


# --- the line pass ------------------------------------------------------------------------

_FENCE_OPEN = re.compile(f"^((?:>+ ?)?[ \\t]*)```{_FENCE}[ \\t]*$")
_INLINE = re.compile(f"({_CODE_OPEN}[^{_CODE_OPEN}{_CODE_CLOSE}]*{_CODE_CLOSE})")
_SPAN = re.compile(f"{_CODE_OPEN}(\\d+){_CODE_CLOSE}")


def _dedent(line: str) -> str:
    """html2text indents even a top-level list by two spaces: take them off every indented
    line (all of which belong to lists), keeping a quote's ">" in front."""
    quote = line[: len(line) - len(line.lstrip(">"))]
    if quote and line[len(quote):].startswith(" "):
        quote += " "
    rest = line[len(quote):]
    return quote + (rest[2:] if rest.startswith("  ") else rest)


def _code_block(prefix: str, body: list[str]) -> list[str]:
    """A code block's lines: its content verbatim after the block's own prefix (a list's
    indent, a quote's ">"), without html2text's trailing blank lines."""
    content = [line[len(prefix):] if line.startswith(prefix) else line for line in body]
    while content and not content[-1].strip():
        content.pop()
    runs = [len(m.group()) for line in content if (m := re.match(r"[ \t]*(`{3,})", line))]
    fence = "`" * max([3, *(run + 1 for run in runs)])
    new = _dedent(prefix + "x")[:-1]
    return [new + fence, *((new + line) if line else new.rstrip() for line in content), new + fence]


def _blocks(raw: str) -> list[tuple[bool, list[str]]]:
    """(is_code, lines) runs of the converter's output. A code block runs from the
    converter's marked opening ``` line to its marked closing one: a ``` line in the text
    or in the code is not taken for either."""
    blocks: list[tuple[bool, list[str]]] = []
    prose: list[str] = []
    lines = raw.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        opening = _FENCE_OPEN.match(line)
        close = next((i for i in range(index, len(lines)) if lines[i].endswith(_FENCE)),
                     None) if opening else None
        if opening is None or close is None:
            if not line.endswith(_FENCE):  # a close without an open: nothing to keep
                prose.append(line)
            continue
        blocks.append((False, prose))
        blocks.append((True, _code_block(opening.group(1), lines[index:close])))
        prose = []
        index = close + 1
    blocks.append((False, prose))
    return blocks


def _outside_code(line: str, edit: Any) -> str:
    """`edit` applied to the parts of a prose line outside its inline code spans."""
    parts = _INLINE.split(line)
    return "".join(part if i % 2 else edit(part) for i, part in enumerate(parts))


def _url_end(url: str) -> tuple[str, str]:
    """A bare URL as matched, split into the URL and the punctuation that ends the sentence
    (a closing bracket is the URL's own when it opened one: Wikipedia's "Foo_(bar)")."""
    tail = ""
    while url:
        last = url[-1]
        pair = {")": "(", "]": "["}.get(last)
        if last in ".,;:!?'\"" or (pair and url.count(pair) < url.count(last)):
            url, tail = url[:-1], last + tail
        else:
            break
    return url, tail


_BARE_URL = re.compile(r"(?<![\w@/.-])(?:(?:https?|ftp)://|www\.)[^\s<>\"\x00-\x06]+",
                       re.IGNORECASE)


def _mark_urls(text: str) -> str:
    def mark(m: re.Match[str]) -> str:
        url, tail = _url_end(m.group())
        return (_URL + tail) if len(url) > 8 else m.group()

    return _BARE_URL.sub(mark, text)


# A line's structure, kept whatever happens to its text: quote, indent, bullet, heading.
_LINE_PREFIX = re.compile(r"^(?:>+ ?)?[ \t]*(?:(?:[-*+]|\d+\.)[ \t]+|#{1,6}[ \t]+)?")
_LIST_OR_HEADING = re.compile(r"^(?:>+ ?)?[ \t]*(?:[-*+]|\d+\.|#{1,6})[ \t]")
_WORD = re.compile(r"[^\W_]+")
MIN_SENTENCE_WORDS = 4  # a sentence that lost a URL and kept fewer words is dropped
_SEPARATOR = r"[ \t]*(?:[,;/&+]|-|–|—|\band\b|\bor\b)?[ \t]*"
_RUN = re.compile(f"{_URL}(?:{_SEPARATOR}{_URL})+", re.IGNORECASE)
_WRAPPED = re.compile(f"\\([ \\t]*{_URL}[ \\t]*\\)|\\[[ \\t]*{_URL}[ \\t]*\\]|<[ \\t]*{_URL}"
                      f"[ \\t]*>|\"{_URL}\"|'{_URL}'|\\*+{_URL}\\*+|~~{_URL}~~")
_PARENTHETICAL = re.compile(f"[ \\t]*\\(([^()\\n{_URL}]*){_URL}([^()\\n{_URL}]*)\\)")
# A label and its colon before a URL: "Source: url", "docs: url", "Image credit: url".
_LABEL = re.compile(
    r"(?:^|[ \t]+)(?:sources?|links?|references?|citations?|credits?|docs|documentation|"
    r"downloads?|website|homepage|demo|video|paper|article|image|photo|via|more info(?:rmation)?"
    r"|further reading|see also|see|here)[ \t]*:[ \t]*(?=" + _URL + ")", re.IGNORECASE)
_COLON = re.compile(f"[ \\t]*:[ \\t]*(?={_URL})")
# Words a URL leaves dangling when it goes: "the study at url", "visit url", "see url".
_DANGLING = re.compile(
    r"(?:^|[ \t]+|(?<=\())(?:according to|such as|see also|see|cf\.|e\.g\.,?|i\.e\.,?|"
    r"visit|check out|check|look at|try|read|go to|at|on|in|from|to|of|by|via|under|per|"
    r"here|there|like|more info(?:rmation)?)[ \t]*(?=" + _URL + ")",
    re.IGNORECASE)
# A conjunction joining a URL to the rest goes with it: "url and the manual", "x or url".
_JOINED = re.compile(f"^[ \\t]*{_URL}[ \\t]*(?:,|;|and\\b|or\\b)|(?:,|;|\\band|\\bor)[ \\t]*{_URL}",
                     re.IGNORECASE)
# Sentence ends, not after "e.g.", "i.e.", "cf." or "vs.".
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!e\.g\.)(?<!i\.e\.)(?<!cf\.)(?<!vs\.)[ \t]+(?=\S)")


def _tidy_spacing(text: str) -> str:
    text = re.sub(r"[ \t]*" + _URL + r"[ \t]*", " ", text)
    text = re.sub(r"[ \t]{2,}", " ", text)
    text = re.sub(r"[ \t]+([,.;:!?)\]])", r"\1", text)
    text = re.sub(r"([(\[])[ \t]+", r"\1", text)
    text = re.sub(r"[,;:][ \t]*([.!?])", r"\1", text)  # "per cup, ." -> "per cup."
    text = re.sub(r"\([ \t]*\)|\[[ \t]*\]", "", text)
    return text.strip().lstrip(",;").strip()


def _sentence(text: str, strict: bool) -> str:
    """A sentence without its URLs and the words they leave dangling; "" to drop it."""
    if _URL not in text:
        return text
    ended_by_url = bool(re.search(f"{_URL}[ \\t]*$", text))
    colon = bool(_COLON.search(text))
    while True:
        shorter = _JOINED.sub(_URL, _DANGLING.sub("", _COLON.sub("", _LABEL.sub("", text))))
        if shorter == text:
            break
        text = shorter
    text = _tidy_spacing(text)
    words = sum(1 for token in text.split() if _WORD.search(token))
    if not words or (strict and words < MIN_SENTENCE_WORDS):
        return ""
    # In a sentence (not a list item or heading) a URL that ended it leaves a full stop:
    # "the usual range; see url" -> "the usual range.", "An overview: url" -> "An overview."
    if ended_by_url and text[-1] in ",;:":
        text = text[:-1] + ("." if strict else "")
    elif strict and colon and ended_by_url and text[-1].isalnum():
        text += "."
    return text


def _strip_urls(line: str) -> str | None:
    """A prose line without its URLs (see the module docstring); None: drop the line."""
    prefix = _LINE_PREFIX.match(line)
    assert prefix is not None
    head, body = line[: prefix.end()], line[prefix.end():]
    spans: list[str] = []

    def stash(m: re.Match[str]) -> str:
        spans.append(m.group())
        return f"{_CODE_OPEN}{len(spans) - 1}{_CODE_CLOSE}"

    body = _INLINE.sub(stash, body)
    body = _RUN.sub(_URL, body)
    body = _WRAPPED.sub(_URL, body)

    def parenthetical(m: re.Match[str]) -> str:
        words = sum(1 for t in (m.group(1) + " " + m.group(2)).split() if _WORD.search(t))
        return "" if words <= MIN_SENTENCE_WORDS else m.group()

    body = _PARENTHETICAL.sub(parenthetical, body)
    if " | " in body:  # a table row: no sentences to judge
        body = _tidy_spacing(body)
    else:
        strict = not _LIST_OR_HEADING.match(line)
        kept = (_sentence(s, strict) for s in _SENTENCE_END.split(body))
        body = " ".join(s for s in kept if s)
    if not _WORD.search(_SPAN.sub("x", body)):
        return None
    return head + _SPAN.sub(lambda m: spans[int(m.group(1))], body)


_HEADING = re.compile(r"^(?:>+ ?)?#{1,6}[ \t]")


def _remove_urls(lines: list[str]) -> list[str]:
    """Prose lines with links and URLs removed. A line that only introduced what was removed
    goes too: a closing sentence ending in ":" when all that followed it (up to a blank line)
    went, and a heading when all of its section did."""
    marked = [_outside_code(line, _mark_urls) for line in lines]
    kept: list[str | None] = [_strip_urls(line) if _URL in line else line for line in marked]
    for i in range(len(kept) - 1, -1, -1):  # backwards: a heading sees its section's fate
        line = kept[i]
        if line is None:
            continue
        if _HEADING.match(line):
            section = list(itertools.takewhile(
                lambda x: x is None or not _HEADING.match(x), kept[i + 1:]))
            if None in section and all(not x for x in section):
                kept[i] = None
        elif line.endswith(":"):
            run = list(itertools.dropwhile(lambda x: x == "", kept[i + 1:]))
            dropped = list(itertools.takewhile(lambda x: x is None, run))
            if dropped and (len(dropped) == len(run) or run[len(dropped)] == ""):
                kept[i] = _without_last_sentence(line)
    return [line for line in kept if line is not None]


def _without_last_sentence(line: str) -> str | None:
    prefix = _LINE_PREFIX.match(line)
    assert prefix is not None
    sentences = _SENTENCE_END.split(line[prefix.end():])[:-1]
    return line[: prefix.end()] + " ".join(sentences) if sentences else None


def _superscript(m: re.Match[str]) -> str:
    inner, before = m.group(2).strip(), m.group(1)
    if not inner:
        return before
    if before[-1:].isdigit() and inner.lower() in ("st", "nd", "rd", "th"):
        return before + inner
    if re.fullmatch(r"\[?\w+\]?|[+-]?\d+(?:\.\d+)?", inner):
        return f"{before}^{inner}"
    return f"{before}^({inner})"


def _inline_code(m: re.Match[str]) -> str:
    code = m.group(1).strip()
    if not code:
        return ""
    ticks = "`" * (max((len(r) for r in re.findall("`+", code)), default=0) + 1)
    pad = " " if code.startswith("`") or code.endswith("`") else ""
    return f"{ticks}{pad}{code}{pad}{ticks}"


def _finish_prose(line: str) -> str:
    """Markers to text, no-break spaces to spaces, runs of spaces to one (outside code)."""
    def plain(part: str) -> str:
        part = re.sub(f"(.?){_SUP_OPEN}([^{_SUP_OPEN}{_SUP_CLOSE}]*){_SUP_CLOSE}",
                      _superscript, part.replace("\xa0", " "))
        part = _MARKERS.sub("", part)  # any left unpaired
        return re.sub(r"(?<=\S) {2,}", " ", part)

    line = re.sub(f"[ \\t]*{_CODE_OPEN}[ \\t]*{_CODE_CLOSE}", "", line)  # empty <code>
    line = _outside_code(line.rstrip(), plain)
    return re.sub(f"{_CODE_OPEN}([^{_CODE_CLOSE}]*){_CODE_CLOSE}", _inline_code, line).rstrip()


def _is_rule(line: str) -> bool:
    return line.lstrip("> ") in (_HR, "---")


def _layout(blocks: list[tuple[bool, list[str]]]) -> str:
    """Blank runs collapsed to one outside code, a blank line around each code block, no
    empty ">" line opening or closing a quote, and rules only where they separate something.
    """
    out: list[tuple[bool, str]] = []  # (in code, line)

    def blank() -> None:
        if out and out[-1][1]:
            out.append((False, ""))

    for is_code, lines in blocks:
        if is_code:
            blank()
            out.extend((True, line) for line in lines)
            out.append((False, ""))
            continue
        for line in lines:
            if not line:
                blank()
            elif re.fullmatch(r">+", line) and not (out and out[-1][1].startswith(">")
                                                     and out[-1][1] != line):
                continue  # an empty quote line with nothing quoted above it
            else:
                out.append((False, line))
    # The next line with content after each line (None: none), in one backward pass.
    following_of: list[str | None] = [None] * len(out)
    following: str | None = None
    for index in range(len(out) - 1, -1, -1):
        following_of[index] = following
        if out[index][0] or out[index][1].strip("> "):
            following = out[index][1]
    result: list[tuple[bool, str]] = []
    for index, (code, line) in enumerate(out):
        following = following_of[index]
        if not code and re.fullmatch(r">+", line) and not (following or "").startswith(">"):
            continue  # an empty quote line closing a quote
        if not code and line.strip("> \t") == _HR:
            before = next(((c, x) for c, x in reversed(result) if c or x.strip("> ")), None)
            if following is None or before is None or (not before[0] and _is_rule(before[1])):
                continue
            line = line.replace(_HR, "---")
        elif not code and _HR in line:  # a rule inside some other line: nothing to draw
            line = line.replace(_HR, "").rstrip()
        if not code and not line and result and not result[-1][1] and not result[-1][0]:
            continue
        result.append((code, line))
    while result and not result[-1][1]:
        result.pop()
    while result and not result[0][1]:
        result.pop(0)
    if result and not result[0][0]:  # nothing above to be indented under
        result[0] = (False, result[0][1].lstrip())
    return "\n".join(line for _, line in result)


def html_to_text(html: str) -> str:
    """Markdown-ish text of an HTML fragment, as the module docstring describes: paragraphs,
    lists (`- `, `1. `), fenced code blocks and inline `code` kept; links become their text
    and URLs vanish; images vanish; entities are unescaped; no markdown escapes."""
    if not html.strip():
        return ""
    html = _CONTROLS.sub("", html)
    raw = _converter().handle(html)
    blocks = []
    for is_code, lines in _blocks(raw):
        if not is_code:
            lines = [_dedent(line.rstrip()) for line in lines]
            lines = [_finish_prose(line) for line in _remove_urls(lines)]
        blocks.append((is_code, lines))
    # The input held no control characters: any left is a marker that broken nesting (a
    # <pre> inside a <pre>) kept from its place, not text.
    return _CONTROLS.sub("", _layout(blocks))


_FENCED = re.compile(r"^(?:>+ ?)?[ \t]*(`{3,}).*?^(?:>+ ?)?[ \t]*\1[ \t]*$",
                     re.DOTALL | re.MULTILINE)
_INLINE_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)")


def prose(text: str) -> str:
    """The text without its fenced blocks and inline code: what style rules should read
    (an `I` or `me` in code is a variable, not the author talking)."""
    return _INLINE_CODE.sub(" ", _FENCED.sub(" ", text))
