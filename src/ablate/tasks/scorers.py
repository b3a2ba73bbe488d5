"""Scorers of verifiable answers, by plain name (principle 8): a response and the reference
answer -> correct or not, no judge.

An answer that cannot be read (no number, no letter, no match) scores 0 with its reason and
never raises: the row keeps the response, so what the model wrote can be looked at."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ablate.config.tasks import SCORER_NAMES
from ablate.registry import Registry


@dataclass(frozen=True)
class Score:
    correct: bool
    reason: str | None  # why the answer could not be read; None when it was (right or wrong)
    extracted: str | None  # the answer read from the response


ScoreFn = Callable[[str, str, str | None], Score]  # (response, reference, pattern) -> Score
# (reference, pattern) -> why a reference answer cannot be scored, or None: checked on load,
# so a file with the wrong answer column is refused instead of scoring 0 everywhere.
ReferenceCheck = Callable[[str, str | None], str | None]


@dataclass(frozen=True)
class Scorer:
    name: str
    score: ScoreFn
    reference_problem: ReferenceCheck


def _wrong(reason: str) -> Score:
    return Score(False, reason, None)


# --- exact_number: the last number, as GSM8K is graded ----------------------------------------

# Thousands separators only in groups of three ("1,234"; "12,34" is two numbers); a minus sign
# only where it is not a hyphen ("3-5" is 3 and 5); not a digit inside a word ("x2").
NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?")


def last_number(text: str) -> Decimal | None:
    """The last number in the text ("#### 1,234" -> 1234; "72.0" -> 72.0); None when none."""
    found = NUMBER.findall(text)
    if not found:
        return None
    try:
        return Decimal(found[-1].replace(",", ""))
    except InvalidOperation:  # the pattern only matches numbers; kept as a guard
        return None


def _exact_number(response: str, reference: str, pattern: str | None) -> Score:
    expected = last_number(reference)
    if expected is None:
        return _wrong(f"no number in the reference answer {reference[-40:]!r}")
    got = last_number(response)
    if got is None:
        return _wrong("no number in the response")
    return Score(got == expected, None, str(got))  # Decimal: 72 == 72.0, exactly


def _number_reference(reference: str, pattern: str | None) -> str | None:
    return None if last_number(reference) is not None else "has no number"


# --- choice: a letter A-E ---------------------------------------------------------------------

LETTER = "[A-E]"
_AFTER = rf"\(?({LETTER})\)?(?![A-Za-z])"  # "(B)", "B.", "B" but not "Because"
# "The answer is (B)", "Answer: C", "the correct option is D": the last one said wins.
EXPLICIT = re.compile(rf"(?i:answer|option|choice)(?:\s+(?i:is))?\s*[:\-]?\s*{_AFTER}")
# A response that opens with the letter: "B", "B.", "(B) because", "C: 42". A bare capital
# followed by a space is not enough: "A triangle has..." is an article.
LEADING = re.compile(rf"\s*\(?({LETTER})(?:[).:,]|\s*(?:\n|$))")
PARENTHESISED = re.compile(rf"\(({LETTER})\)")
REFERENCE_LETTER = re.compile(r"\s*\(?([A-Ea-e])\)?[.:]?\s*")


def chosen_letter(response: str) -> str | None:
    """The letter a response chose, by the most explicit form it uses; None when none."""
    explicit = EXPLICIT.findall(response)
    if explicit:
        return str(explicit[-1])
    leading = LEADING.match(response)
    if leading:
        return leading.group(1)
    parenthesised = PARENTHESISED.findall(response)
    return str(parenthesised[-1]) if parenthesised else None


def _reference_letter(reference: str) -> str | None:
    match = REFERENCE_LETTER.fullmatch(reference)
    return match.group(1).upper() if match else None


def _choice(response: str, reference: str, pattern: str | None) -> Score:
    expected = _reference_letter(reference)
    if expected is None:
        return _wrong(f"the reference answer {reference[:40]!r} is not a letter A-E")
    got = chosen_letter(response)
    if got is None:
        return _wrong("no choice letter (A-E) in the response")
    return Score(got == expected, None, got)


def _letter_reference(reference: str, pattern: str | None) -> str | None:
    return None if _reference_letter(reference) else "is not a letter A-E"


# --- regex: the pattern's first group -----------------------------------------------------------


def _regex(response: str, reference: str, pattern: str | None) -> Score:
    if not pattern:
        return _wrong("the regex scorer has no pattern")
    match = re.search(pattern, response)
    found = None if match is None else match.group(1) if match.re.groups else match.group(0)
    if found is None:
        return _wrong("the pattern does not match the response")
    return Score(found.strip() == reference.strip(), None, found)


def _any_reference(reference: str, pattern: str | None) -> str | None:
    return None


# --- contains: the reference, normalised, inside the response ----------------------------------

_EDGE_PUNCTUATION = " \t\n.,;:!?\"'`()[]"


def normalise(text: str) -> str:
    """Case-folded, accents composed, runs of white space as one space, no edge punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.split()).strip(_EDGE_PUNCTUATION)


def _contains(response: str, reference: str, pattern: str | None) -> Score:
    expected = normalise(reference)
    if not expected:
        return _wrong("the reference answer is empty")
    if not response.strip():
        return _wrong("the response is empty")
    return Score(expected in normalise(response), None, None)


def _text_reference(reference: str, pattern: str | None) -> str | None:
    return None if normalise(reference) else "is empty"


SCORERS: Registry[Scorer] = Registry("scorer")
for _scorer in (
    Scorer("exact_number", _exact_number, _number_reference),
    Scorer("choice", _choice, _letter_reference),
    Scorer("regex", _regex, _any_reference),
    Scorer("contains", _contains, _text_reference),
):
    SCORERS.register(_scorer.name)(_scorer)
# config checks scorer names without importing this component (it sits below): keep both equal.
assert SCORERS.names() == SCORER_NAMES


def scorer(name: str) -> Scorer:
    """The registered scorer (a KeyError with "did you mean" otherwise; config checks first)."""
    return SCORERS.get(name)


def score(name: str, response: str, reference: str, pattern: str | None = None) -> Score:
    return scorer(name).score(response, reference, pattern)
