"""LIMA section 2.1's quality and style rules for Stack Exchange answers, each a switch.

Rules run in the fixed order of RULES and a question is counted under the first one it
fails, so the removal counts add up. Style rules read the answer's converted text without
its code (html_text.prose), since `I` or `me` in code is a name, not the author talking.

The phrase lists are heuristics, written down so they can be tested and argued with:

- first_person: the pronoun "I" (also "I'm", "I've", "I'd", "I'll") as a whole word,
  case-sensitive so "i" as a loop variable in prose does not count, and not when joined to
  a word by "/" or "-" ("I/O"); and "my", "me", "mine", "myself" as whole words, any case.
  Known false positives: a Roman numeral or matrix named "I" outside code ("Type I error").
- other_answers: OTHER_ANSWER_PHRASES, case-insensitive, at a word start.
- self_contained_title: a title fails if it has fewer than MIN_TITLE_WORDS words, ends in
  an ellipsis (continued in the body), or uses a phrase of BODY_REFERENCES (whole words,
  case-insensitive) that points at something only the body shows.
"""

from __future__ import annotations

import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat

from ablate.config.schema import StackExchangeFilters
from ablate.data.sources.stackexchange.html_text import html_to_text, prose

# The fixed order; "no_answer" always applies, every other rule has its switch.
RULES = ("no_answer", "answer_score", "answer_length", "first_person", "other_answers",
         "self_contained_title")

# "I" joined by "/" or "-" is a term ("I/O", "I-beam"), not the pronoun.
_FIRST_PERSON = re.compile(r"(?<![/-])\bI\b(?![/-]\w)|\b(?i:my|me|mine|myself)\b")

OTHER_ANSWER_PHRASES = (
    "as mentioned", "as already mentioned", "as others have said", "as others have mentioned",
    "as others have pointed out", "as others said", "as said above", "as stated above",
    "as noted above", "other answer", "another answer", "previous answer", "above answer",
    "answer above", "answers above", "answer below", "answers below", "the accepted answer",
    "this answer", "see my answer", "top answer", "stack exchange", "stackexchange",
)
_OTHER_ANSWERS = re.compile(
    r"(?<!\w)(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in OTHER_ANSWER_PHRASES)
    + ")", re.IGNORECASE)

# Three words already make a question ("What is entropy?"); one or two ("Strange error",
# "Help please") name a topic and leave the question in the body.
MIN_TITLE_WORDS = 3
BODY_REFERENCES = (
    "this", "these", "the following", "the above", "below",
    "the code", "this code", "my code", "my program", "my script", "this error", "the error",
    "this image", "the image", "this picture", "the picture", "the diagram", "this diagram",
    "the figure", "this figure", "the graph", "this graph", "the screenshot", "attached",
    "this snippet", "the snippet", "this example", "the given",
)
_BODY_REFERENCE = re.compile(
    r"\b(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in BODY_REFERENCES) + r")\b",
    re.IGNORECASE)


def is_first_person(text: str) -> bool:
    return _FIRST_PERSON.search(prose(text)) is not None


def refers_to_other_answers(text: str) -> bool:
    return _OTHER_ANSWERS.search(prose(text)) is not None


def title_needs_body(title: str) -> bool:
    title = title.strip()
    return (len(title.split()) < MIN_TITLE_WORDS or title.endswith(("...", "…"))
            or _BODY_REFERENCE.search(title) is not None)


def switches_on(filters: StackExchangeFilters) -> list[str]:
    """The switches that were on, for the pool's notes (LIMA's "unfiltered" is none)."""
    names = ("top_questions", *RULES[1:])
    return [name for name in names if getattr(filters, name)]


def answer_failure(ascore: int | None, answer_html: str | None,
                   filters: StackExchangeFilters) -> str | None:
    """The rules that need no converted text: checked before paying for the conversion."""
    if ascore is None or answer_html is None:
        return "no_answer"
    if filters.answer_score and ascore < filters.min_answer_score:
        return "answer_score"
    return None


def text_failure(answer_html: str, title: str,
                 filters: StackExchangeFilters) -> tuple[str | None, str]:
    """(first rule of the rest that fails or None, the converted answer; "" when it fails,
    as nothing reads it then and it may cross a process boundary)."""
    text = html_to_text(answer_html)
    if filters.answer_length and not (
            filters.min_answer_chars <= len(text) <= filters.max_answer_chars):
        return "answer_length", ""
    checks = (("first_person", is_first_person, text),
              ("other_answers", refers_to_other_answers, text),
              ("self_contained_title", title_needs_body, title))
    for rule, fails, value in checks:
        if getattr(filters, rule) and fails(value):
            return rule, ""
    return None, text


# Fewer conversions than this in a batch run in-process: spawning workers costs about a
# second, which pays off on real dumps (html_to_text takes ~1 ms per answer), not in tests.
PARALLEL_MIN = 512
Job = tuple[int | None, str | None, str]  # (top answer's score, its HTML, the title)


class FilterRunner:
    """Every rule over batches of questions, converting answers in worker processes when a
    batch is big enough. Workers are spawned, not forked: forking next to the threads of
    Ray or MLflow can deadlock."""

    def __init__(self, filters: StackExchangeFilters, workers: int) -> None:
        self.filters = filters
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def verdicts(self, jobs: list[Job]) -> list[tuple[str | None, str]]:
        """(first rule failed or None, the converted answer if it passed) per job."""
        out: list[tuple[str | None, str]] = [
            (answer_failure(ascore, html, self.filters), "") for ascore, html, _ in jobs]
        todo = [i for i, (rule, _) in enumerate(out) if rule is None]
        pairs = [(jobs[i][1] or "", jobs[i][2]) for i in todo]
        for i, verdict in zip(todo, self._convert(pairs), strict=True):
            out[i] = verdict
        return out

    def _convert(self, pairs: list[tuple[str, str]]) -> list[tuple[str | None, str]]:
        if self.workers <= 1 or len(pairs) < PARALLEL_MIN:
            return [text_failure(html, title, self.filters) for html, title in pairs]
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        htmls, titles = zip(*pairs, strict=True)
        return list(self._pool.map(text_failure, htmls, titles, repeat(self.filters),
                                   chunksize=32))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
