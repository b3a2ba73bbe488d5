"""What every mode's reader shares: the reason a reply without a verdict gets, and the words
of a verdict line after its label or lead-in. Below the modes, so that parse.py (which reads a
reply with its mode's rule) sits above them."""

from __future__ import annotations

import re

NO_VERDICT = "no verdict found"

_PREAMBLE = re.compile(
    r"(?:therefore|thus|so|hence|overall|finally|in conclusion|in summary|final answer)\b[,\s]*"
)


def verdict_phrase(line: str) -> str:
    """The words after a label ("Final verdict: A") or a lead-in ("Therefore, A")."""
    phrase = line.rsplit(":", 1)[-1].strip()
    lead_in = _PREAMBLE.match(phrase)
    # Trailing punctuation or an emoji ("Pass ✅") does not change the verdict.
    return re.sub(r"[^\w']+$", "", phrase[lead_in.end() if lead_in else 0 :])
