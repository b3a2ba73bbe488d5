"""HTML (a Stack Exchange post body) to markdown-ish plain text, the way LIMA section 2.1 did
it: code blocks and lists kept, links reduced to their text, images removed.

html2text does the parsing (entities, nesting, lists, <pre>); this module fixes its settings
and tidies blank lines outside code, leaving the code itself byte for byte as written.
"""

from __future__ import annotations

import re
from typing import Any

_FENCE = "```"


def _converter() -> Any:
    try:
        import html2text
    except ImportError as exc:  # a declared dependency, but say what to install if missing
        raise ImportError("html_to_text needs html2text: pip install html2text") from exc
    # A fresh converter per call: HTML2Text keeps parse state between handle() calls.
    h = html2text.HTML2Text()
    h.body_width = 0  # no re-wrapping: lines stay as the author wrote them
    h.ignore_links = True  # keeps the link text, drops the URL
    h.ignore_images = True  # drops the image and its alt text
    h.backquote_code_style = True  # <pre> becomes a ``` fence (indented inside list items)
    h.ul_item_mark = "-"
    h.unicode_snob = True  # keep non-ASCII characters instead of ASCII look-alikes
    return h


def _tidy(text: str) -> str:
    """Trailing spaces dropped and blank runs collapsed outside fences; a blank line before
    each fence and none just inside its closing line (html2text leaves one there)."""
    out: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        is_fence = line.strip().startswith(_FENCE)
        if in_fence and not is_fence:
            out.append(line)
            continue
        line = line.rstrip()
        if is_fence and in_fence:
            while out and not out[-1].strip():
                out.pop()
        elif is_fence and out and out[-1]:
            out.append("")
        if line or is_fence or (out and out[-1]):
            out.append(line)
        in_fence ^= is_fence
    return "\n".join(out).strip("\n")


def html_to_text(html: str) -> str:
    """Markdown-ish text of an HTML fragment: paragraphs, lists (`- `, `1. `), fenced code
    blocks and inline `code` kept; links become their text; images vanish; entities are
    unescaped; runs of blank lines collapse to one (outside code)."""
    if not html.strip():
        return ""
    return _tidy(_converter().handle(html))


_FENCED = re.compile(r"^[ \t]*```.*?^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE)
_INLINE_CODE = re.compile(r"`[^`\n]*`")


def prose(text: str) -> str:
    """The text without its fenced blocks and inline code: what style rules should read
    (an `I` or `me` in code is a variable, not the author talking)."""
    return _INLINE_CODE.sub(" ", _FENCED.sub(" ", text))
