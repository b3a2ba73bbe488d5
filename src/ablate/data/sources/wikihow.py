"""wikiHow pool source (LIMA section 2.1): the title is the prompt, the article the response.

Input is a CSV or JSONL export with one article per row. Column names come from the pool's
title_field / text_field / category_field, so the common public exports load as they are:

- a scrape with categories, e.g. columns ``title, text, category`` (the defaults);
- the wikiHow summarisation dataset (Koupaee & Wang 2018, github.com/mahnazkoupaee/
  WikiHow-Dataset): ``wikihowAll.csv`` has ``headline, title, text`` (no category: set
  ``category_field: ""`` to treat the file as one category), ``wikihowSep.csv`` has
  ``overview, headline, text, sectionLabel, title`` (``category_field: sectionLabel``);
- the Hugging Face ``wikihow`` dataset exported to JSONL (``title``, ``text``, ``headline``).

The file is read twice, streaming: the first pass records which rows are usable and their
category, the sample is drawn from that index, the second pass prepares only the sampled rows.
"""

from __future__ import annotations

import csv
import random
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ablate.config.schema import PoolConfig
from ablate.data.build import BuildStats, Record, json_object
from ablate.data.sources.spec import PoolSource
from ablate.errors import UserError

CSV_SUFFIXES = {".csv"}
JSONL_SUFFIXES = {".jsonl", ".json"}
NO_CATEGORY = "all"  # the one group when category_field is "" (exports without categories)

# Article bodies can exceed csv's default 128 KiB field limit; C long caps the value.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

_MD_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_HTML_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_HTML_LINK = re.compile(r"<a\b[^>]*>(.*?)</a\s*>", re.IGNORECASE | re.DOTALL)
# Literal prefixes, not IGNORECASE: the case-folding scan was the slowest step on big files.
# A URL does not end in sentence punctuation: "see http://x.org." keeps its full stop.
_URL = re.compile(r"\b(?:https?://|HTTPS?://|www\.|WWW\.)[^\s<>()\[\]]*[^\s<>()\[\].,;:!?'\"]")
_EMPTY_PARENS = re.compile(r"\(\s*\)")  # what "(https://...)" leaves behind
# The opener LIMA rewrites; current wikiHow pages say "This wikiHow teaches you ..." instead.
_OPENER = re.compile(r"^this (?:article|wikihow)\b", re.IGNORECASE)


def prune_links(text: str) -> str:
    """Drop images and URLs; keep a link's visible text (LIMA: links and images are pruned)."""
    text = _MD_IMAGE.sub("", text)  # before links: an image is a link with a leading "!"
    text = _MD_LINK.sub(r"\1", text)
    text = _HTML_IMG.sub("", text)
    text = _HTML_LINK.sub(r"\1", text)
    return _EMPTY_PARENS.sub("", _URL.sub("", text))


def collapse_whitespace(text: str) -> str:
    """One space between words and at most one blank line, so step lists keep their lines."""
    # str.split / splitlines instead of regexes: several times faster on long articles.
    lines = [" ".join(line.split()) for line in text.splitlines()]
    kept = [line for i, line in enumerate(lines) if line or (i and lines[i - 1])]
    return "\n".join(kept).strip()


def rewrite_opener(text: str) -> str:
    """Rewrite LIMA's opener: "This article explains how to X" becomes "The following answer
    explains how to X". Both subjects are third-person singular, so the sentence stays
    grammatical."""
    return _OPENER.sub("The following answer", text, count=1)


def prepare_article(title: str, text: str) -> tuple[str, str]:
    """(prompt, response) from a raw title and body."""
    prompt = collapse_whitespace(prune_links(title))
    response = rewrite_opener(collapse_whitespace(prune_links(text)))
    return prompt, response


def _cell(value: Any) -> str:
    # JSONL exports may hold the steps as a list of strings, and null for a missing value.
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(_cell(v) for v in value)
    return str(value)


def _missing_column(path: Path, column: str, setting: str, present: list[str]) -> UserError:
    hint = ", or to '' when the export has no categories" if setting == "category_field" else ""
    return UserError(
        f"{path}: no column '{column}' (columns: {', '.join(present) or 'none'}). "
        f"Set {setting} in this pool's config (pools.<name>.{setting}) to the column that "
        f"holds it{hint}."
    )


def _columns(pool: PoolConfig) -> dict[str, str]:
    """Setting name -> column name for the columns this file must have."""
    wanted = {"title_field": pool.title_field, "text_field": pool.text_field}
    if pool.category_field:
        wanted["category_field"] = pool.category_field
    return wanted


def _check_columns(path: Path, pool: PoolConfig, present: list[str]) -> None:
    for setting, column in _columns(pool).items():
        if column not in present:
            raise _missing_column(path, column, setting, present)


def _csv_rows(path: Path, pool: PoolConfig) -> Iterator[tuple[int, dict[str, Any]]]:
    # utf-8-sig: spreadsheet exports start with a byte-order mark that would rename column 1.
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, strict=True)  # strict: a broken quote is an error, not data
        try:
            header = next(reader, [])
            _check_columns(path, pool, header)
            for number, values in enumerate(reader, 1):
                if len(values) != len(header):
                    raise UserError(
                        f"{path}, line {reader.line_num}: {len(values)} fields where the header "
                        f"has {len(header)} (a malformed CSV row; fix or remove it)."
                    )
                yield number, dict(zip(header, values, strict=True))
        except csv.Error as exc:
            raise UserError(
                f"{path}, line {reader.line_num}: malformed CSV ({exc}); fix or remove the row."
            ) from None


def _jsonl_rows(path: Path, pool: PoolConfig) -> Iterator[tuple[int, dict[str, Any]]]:
    number = 0
    with path.open(encoding="utf-8-sig") as handle:
        for line_number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            hint = "; the file must hold one JSON object per line."
            row = json_object(line, path, line_number, hint)
            try:
                _check_columns(path, pool, list(row))
            except UserError as exc:
                raise UserError(f"{exc} (first seen on line {line_number})") from None
            number += 1
            yield number, row


def _rows(path: Path, pool: PoolConfig) -> Iterator[tuple[int, str, str, str]]:
    """(row number, title, text, category) for every data row, streaming."""
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        rows = _csv_rows(path, pool)
    elif suffix in JSONL_SUFFIXES:
        rows = _jsonl_rows(path, pool)
    else:
        raise UserError(
            f"{path}: a wikihow pool must be a .csv or .jsonl/.json file (set pools.<name>.path)."
        )
    try:
        for number, row in rows:
            category = _cell(row[pool.category_field]).strip() if pool.category_field else ""
            yield (
                number,
                _cell(row[pool.title_field]),
                _cell(row[pool.text_field]),
                category or NO_CATEGORY,
            )
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the wikihow file ({exc}).") from None


def _index(path: Path, pool: PoolConfig, stats: BuildStats) -> dict[str, list[int]]:
    """Category -> usable row numbers (first pass); counts seen and empty rows."""
    by_category: dict[str, list[int]] = {}
    for number, title, text, category in _rows(path, pool):
        stats.seen += 1
        # Whitespace and the opener cannot empty a text; links can (a body that is one URL).
        if not prune_links(title).strip() or not prune_links(text).strip():
            stats.drop("empty")
            continue
        by_category.setdefault(category, []).append(number)
    return by_category


def round_robin_sample(
    by_category: dict[str, list[int]], size: int | None, seed: int
) -> list[tuple[int, str]]:
    """(row, category) pairs: each round visits the remaining categories in a shuffled order
    and takes one unused article from each, so every category is picked uniformly and any
    prefix is balanced (LIMA: a category uniformly, then an article). Exhausted categories
    drop out; the same file and seed give the same sample."""
    rng = random.Random(seed)
    queues: dict[str, list[int]] = {}
    for category in sorted(by_category):  # sorted: dict order must not change the sample
        rows = sorted(by_category[category])
        rng.shuffle(rows)
        queues[category] = rows
    limit = sum(len(q) for q in queues.values()) if size is None else size
    picked: list[tuple[int, str]] = []
    while len(picked) < limit and queues:
        order = sorted(queues)
        rng.shuffle(order)
        for category in order:
            if len(picked) == limit:
                break
            picked.append((queues[category].pop(), category))
            if not queues[category]:
                del queues[category]
    return picked


def build_wikihow(pool: PoolConfig, split: str, stats: BuildStats) -> Iterator[Record]:
    """Sampled wikiHow articles as records, in category-round-robin order."""
    path = Path(pool.path or "")
    if not pool.path or not path.is_file():
        raise UserError(f"{path}: no such wikihow file (set pools.<name>.path).")
    if pool.size is not None and pool.size < 0:
        raise UserError(f"pools.<name>.size is {pool.size}; use a positive number or null.")
    by_category = _index(path, pool, stats)
    picked = round_robin_sample(by_category, pool.size, pool.seed)
    # Usable articles beyond pool.size, so removed adds up to seen - kept (build.py).
    unpicked = sum(len(rows) for rows in by_category.values()) - len(picked)
    if unpicked:
        stats.removed["not_sampled"] += unpicked
    stats.notes["wikihow"] = {"categories": len({c for _, c in picked}), "seed": pool.seed}
    wanted = {number for number, _ in picked}
    prepared: dict[int, Record] = {}
    for number, title, text, category in _rows(path, pool):
        if number in wanted:  # second pass: prepare only the sampled rows
            prompt, response = prepare_article(title, text)
            prepared[number] = {
                "id": f"{path.stem}-{number}",
                "prompt": prompt,
                "response": response,
                "category": category,
            }
    for number, category in picked:
        stats.kept_by_group[category] += 1
        yield prepared[number]


SOURCE = PoolSource(
    "wikihow",
    lambda pool, split, stats, work_dir: build_wikihow(pool, split, stats),
    settings=("size", "seed", "title_field", "text_field", "category_field"),
    path_kind="file",
    external=True,
)
