"""Reading a verdict out of a chat judge's reply, honestly (CONTRIBUTING.md, principle 6).

The judge reasons first and prints its verdict on the last line, so only the last line that
has any letters or digits is read: numbers and grades mentioned while reasoning never count,
and a reply cut off mid-reasoning has no verdict. No verdict is never a low score: it is a
Verdict with value None and a reason, and the raw reply is kept by the caller.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from ablate.judge.modes.phrases import NO_VERDICT
from ablate.judge.rubric import LIKERT_LEVELS

# Recorded with every judgment: a change of these rules is visible in the results.
PARSER_VERSION = 1

EMPTY_REPLY = "empty reply"


@dataclass(frozen=True)
class Verdict:
    value: str | None  # what the mode reads: likert "1".."6"; pairwise "A" | "B" | "tie"; ...
    reason: str | None  # why there is no value (None when parsed)


__all__ = ["EMPTY_REPLY", "NO_VERDICT", "PARSER_VERSION", "Verdict", "parse_verdict"]


def parse_verdict(mode: str, text: str) -> Verdict:
    """The verdict a reply ends with, read by its mode's rule (ablate.judge.modes)."""
    from ablate.judge.modes import JUDGE_MODES, judge_mode

    if JUDGE_MODES.problem(mode):
        raise ValueError(f"no verdict parser for judge mode {mode!r}")
    spec = judge_mode(mode)
    line = _final_line(text)
    if line is None:
        return Verdict(None, EMPTY_REPLY)
    value = spec.read(line)
    if value is None:
        return Verdict(None, spec.why_not(line) or NO_VERDICT)
    return Verdict(value, None)


# Markdown emphasis, headings, quotes, brackets ("[[A]]", "**5**") and short tags
# ("<answer>5</answer>") decorate a verdict without changing it.
_TAG = re.compile(r"</?[A-Za-z][\w-]{0,30}>")
_DECORATION = str.maketrans("", "", '*_`#[]()"')


def _final_line(text: str) -> str | None:
    """The last line with a letter or digit, undecorated and lower-cased."""
    for raw in reversed(text.splitlines()):
        line = " ".join(_TAG.sub(" ", raw).translate(_DECORATION).split())
        line = line.lstrip("->•+ ").lower()  # list bullets and quote marks
        if any(ch.isalnum() for ch in line):
            return line
    return None


def likert_from_logprobs(logprobs: list[dict[str, Any]] | None) -> dict[str, float] | None:
    """The judge's distribution over the six levels where it wrote its (last) level.

    `logprobs` is the OpenAI chat `logprobs.content` list. Levels missing from that
    position's top_logprobs get 0; None when no position holds a level.
    """
    if not logprobs:
        return None
    for i in range(len(logprobs) - 1, -1, -1):
        level = _token_level(logprobs[i].get("token"))
        if level and _standalone(logprobs, i):
            return _level_distribution(logprobs[i], level)
    return None


def _token_level(token: Any) -> str | None:
    if not isinstance(token, str):
        return None
    stripped = token.strip().strip("*_`#[]().:")
    return stripped if stripped in LIKERT_LEVELS else None


def _standalone(content: list[dict[str, Any]], i: int) -> bool:
    """Whether the level token at i is a whole number and not a scale's denominator."""
    token = str(content[i].get("token", ""))
    before = "".join(str(c.get("token", "")) for c in content[max(0, i - 3) : i])
    after = "".join(str(c.get("token", "")) for c in content[i + 1 : i + 3])
    if re.search(r"(?:/|\bout of)\s*$", before, re.IGNORECASE):
        return False  # the 6 of "5/6" or "5 out of 6"
    if not token[:1].isspace() and re.search(r"\d\.?$", before):
        return False  # the tail of "10" or "3.5"
    return not re.match(r"\.?\d", after)  # the head of "10" or "3.5"


def _level_distribution(entry: dict[str, Any], sampled: str) -> dict[str, float]:
    mass = dict.fromkeys(LIKERT_LEVELS, 0.0)
    # " 5" and "5" are different tokens with the same meaning: their probabilities add up.
    for alternative in entry.get("top_logprobs") or []:
        level = _token_level(alternative.get("token"))
        if level:
            mass[level] += math.exp(alternative["logprob"])
    if mass[sampled] == 0.0 and entry.get("logprob") is not None:
        mass[sampled] = math.exp(entry["logprob"])  # top_logprobs missing or not requested
    total = sum(mass.values())
    if total <= 0.0:
        # Every probability underflowed: all we know is the level the judge wrote.
        return {level: float(level == sampled) for level in LIKERT_LEVELS}
    return {level: p / total for level, p in mass.items()}
