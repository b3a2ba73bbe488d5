"""Behaviour of the wikiHow pool source: preparation (LIMA 2.1), sampling, and input errors."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ablate.config.schema import PoolConfig
from ablate.data.build import BuildStats, Record
from ablate.data.sources.wikihow import build_wikihow, prepare_article, prune_links, rewrite_opener
from ablate.errors import UserError

CATEGORIES = {"Food": 6, "Travel": 3, "Pets": 1}


def _articles() -> list[dict[str, str]]:
    return [
        {"title": f"How to {cat} {i}", "text": f"Step one for {cat} {i}.", "category": cat}
        for cat, n in CATEGORIES.items()
        for i in range(n)
    ]


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _build(path: Path, split: str = "train", **settings: Any) -> tuple[list[Record], BuildStats]:
    stats = BuildStats()
    pool = PoolConfig(source="wikihow", path=str(path), **settings)
    return list(build_wikihow(pool, split, stats)), stats


# --- preparation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "This article explains how to bake bread.",
            "The following answer explains how to bake bread.",
        ),
        (
            "This article will show you how to knit.",
            "The following answer will show you how to knit.",
        ),
        ("This wikiHow teaches you how to ski.", "The following answer teaches you how to ski."),
        ("In this article, we knit.", "In this article, we knit."),  # not an opener
    ],
)
def test_opening_this_article_is_rewritten_as_the_following_answer(
    body: str, expected: str
) -> None:
    assert rewrite_opener(body) == expected


def test_links_and_images_are_pruned_keeping_link_text() -> None:
    text = (
        "See [the guide](https://x.org/g) ![diagram](img.png) and "
        '<a href="https://y.org">this page</a><img src="a.jpg" alt="a"> or https://z.org/p?q=1 now.'
    )
    assert " ".join(prune_links(text).split()) == "See the guide and this page or now."
    # A bare URL goes with its brackets but not with the sentence's punctuation.
    assert prune_links("Visit www.x.org. Or (http://y.org/a) here.") == "Visit . Or  here."


def test_prepare_collapses_whitespace_but_keeps_step_lines() -> None:
    prompt, response = prepare_article(
        "  How to\tTie  a Knot ", "  This article   shows it.\n\n\n\nStep  1.\r\nStep 2.  "
    )
    assert prompt == "How to Tie a Knot"
    assert response == "The following answer shows it.\n\nStep 1.\nStep 2."


# --- sampling ---------------------------------------------------------------------------------


def test_all_articles_come_in_category_round_robin_order(tmp_path: Path) -> None:
    records, stats = _build(_write_csv(tmp_path / "w.csv", _articles()))
    assert len(records) == 10 and len({r["id"] for r in records}) == 10  # without replacement
    # Every round takes one article from each category that has any left.
    first_round = {r["category"] for r in records[:3]}
    assert first_round == set(CATEGORIES)
    assert {r["category"] for r in records[3:5]} == {"Food", "Travel"}
    assert [r["category"] for r in records[7:]] == ["Food"] * 3  # the others ran out
    assert stats.seen == 10 and stats.kept_by_group == Counter(CATEGORIES)
    assert sum(stats.removed.values()) == 0


def test_sample_is_balanced_deterministic_and_nested(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "w.csv", _articles())
    small, stats = _build(path, size=6, seed=3)
    counts = Counter(r["category"] for r in small)
    # Rounds of (Food, Travel, Pets), (Food, Travel), then one of Food / Travel.
    assert counts["Pets"] == 1 and sorted([counts["Food"], counts["Travel"]]) == [2, 3]
    assert _build(path, size=6, seed=3)[0] == small
    assert _build(path, size=9, seed=3)[0][:6] == small  # quantity ablation: prefixes
    assert _build(path, size=6, seed=4)[0] != small
    assert stats.removed == {"not_sampled": 4}
    assert stats.seen - sum(stats.removed.values()) == sum(stats.kept_by_group.values()) == 6


def test_records_carry_prompt_response_and_category(tmp_path: Path) -> None:
    rows = [
        {
            "title": "How to Fly",
            "text": "This article explains how to fly [well](http://a.b).",
            "category": "Sky",
        }
    ]
    records, _ = _build(_write_csv(tmp_path / "w.csv", rows))
    assert records == [
        {
            "id": "w-1",
            "prompt": "How to Fly",
            "response": "The following answer explains how to fly well.",
            "category": "Sky",
        }
    ]


def test_empty_title_or_text_is_removed_as_empty(tmp_path: Path) -> None:
    rows = [*_articles()[:2], {"title": "", "text": "body", "category": "Food"}]
    rows.append({"title": "How to", "text": "  https://only.a/link ", "category": "Food"})
    records, stats = _build(_write_csv(tmp_path / "w.csv", rows))
    assert len(records) == 2 and stats.seen == 4 and stats.removed == {"empty": 2}


# --- the public exports -----------------------------------------------------------------------


def test_jsonl_export_with_other_column_names(tmp_path: Path) -> None:
    # wikihowSep-style names; steps as a list of strings, as some JSON exports hold them.
    path = tmp_path / "sep.jsonl"
    rows = [
        {"title": "How to Swim", "headline": ["Get wet.", "Move."], "sectionLabel": "Sport"},
        {"title": "How to Run", "headline": "Move fast.", "sectionLabel": "Sport"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    records, stats = _build(path, text_field="headline", category_field="sectionLabel")
    assert sorted(r["response"] for r in records) == ["Get wet.\nMove.", "Move fast."]
    assert stats.kept_by_group == {"Sport": 2}


def test_export_without_categories_loads_with_an_empty_category_field(tmp_path: Path) -> None:
    # wikihowAll.csv: headline, title, text and no category column.
    rows = [{"headline": "h", "title": f"How to {i}", "text": f"Do {i}."} for i in range(3)]
    records, stats = _build(_write_csv(tmp_path / "all.csv", rows), category_field="")
    assert len(records) == 3 and stats.kept_by_group == {"all": 3}


def test_very_long_csv_fields_are_read(tmp_path: Path) -> None:
    body = "word " * 60_000  # 300 KB, beyond csv's default field limit
    records, _ = _build(
        _write_csv(tmp_path / "w.csv", [{"title": "t", "text": body, "category": "c"}])
    )
    assert len(records[0]["response"]) == len(body.strip())


# --- errors -----------------------------------------------------------------------------------


def test_missing_column_names_file_column_columns_and_setting(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "w.csv", [{"title": "t", "headline": "h", "category": "c"}])
    with pytest.raises(UserError) as err:
        _build(path)
    message = str(err.value)
    for part in (str(path), "'text'", "title, headline, category", "pools.<name>.text_field"):
        assert part in message


def test_missing_column_in_jsonl_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    path.write_text('{"title": "t", "text": "x", "category": "c"}\n{"title": "t", "text": "x"}\n')
    with pytest.raises(UserError, match=r"'category'.*category_field.*line 2"):
        _build(path)


def test_malformed_csv_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "w.csv"
    path.write_text('title,text,category\nt,x,c\nt,"bro"ken,c\n', encoding="utf-8")
    with pytest.raises(UserError, match=rf"{path.name}, line 3: malformed CSV"):
        _build(path)
    path.write_text("title,text,category\nt,x,c,extra\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"line 2: 4 fields where the header has 3"):
        _build(path)


def test_malformed_jsonl_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    path.write_text('{"title": "t", "text": "x", "category": "c"}\n{"title": \n', encoding="utf-8")
    with pytest.raises(UserError, match=rf"{path.name}, line 2: not valid JSON"):
        _build(path)


def test_unknown_extension_and_missing_file_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such wikihow file"):
        _build(tmp_path / "absent.csv")
    (tmp_path / "w.txt").write_text("title\n")
    with pytest.raises(UserError, match=r"\.csv or \.jsonl"):
        _build(tmp_path / "w.txt")
