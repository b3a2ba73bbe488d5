"""The synthetic dumps look like the public ones where parsers trip, and are reproducible."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import py7zr

from ablate.data.fixtures.dumps import (
    WIKIHOW_CATEGORIES,
    write_stackexchange_dump,
    write_wikihow_csv,
)


def _rows(xml: Path) -> list[dict[str, str]]:
    return [dict(row.attrib) for row in ET.parse(xml).getroot()]


def test_stackexchange_dump_layout_and_format(tmp_path: Path) -> None:
    counts = write_stackexchange_dump(tmp_path, sites=5, questions_per_site=40, seed=1,
                                      archive_sites=2)
    archives = sorted(p.name for p in tmp_path.glob("*.7z"))
    folders = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert archives == ["cooking.stackexchange.com.7z", "stackoverflow.com.7z"]
    assert folders == ["math.stackexchange.com", "physics.stackexchange.com",
                       "travel.stackexchange.com"]
    raw = (tmp_path / "math.stackexchange.com" / "Posts.xml").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf<?xml")
    assert b"&#xA;" in raw and b"&lt;pre&gt;&lt;code&gt;" in raw and b"&lt;img " in raw
    # One row per line: newlines inside attributes are escaped, never literal.
    assert all(line.startswith((b"  <row ", b"<posts>", b"</posts>"))
               for line in raw.splitlines()[1:])
    with py7zr.SevenZipFile(tmp_path / "stackoverflow.com.7z") as archive:
        assert archive.getnames() == ["Posts.xml"]
    assert counts["archives"] == 2 and counts["sites"] == 5
    assert counts["posts"] == counts["questions"] + counts["answers"] + counts["other_posts"]


def test_stackexchange_dump_rows_sizes_and_defects(tmp_path: Path) -> None:
    counts = write_stackexchange_dump(tmp_path, sites=4, questions_per_site=60, seed=2)
    per_site = {p.parent.name: _rows(p) for p in tmp_path.glob("*/Posts.xml")}
    kinds = Counter(r["PostTypeId"] for rows in per_site.values() for r in rows)
    assert kinds["1"] == counts["questions"] and kinds["2"] == counts["answers"]
    assert kinds["4"] == counts["other_posts"] > 0
    questions = [len([r for r in rows if r["PostTypeId"] == "1"]) for rows in per_site.values()]
    assert max(questions) >= 8 * min(questions)  # very different site sizes
    everything = [r for rows in per_site.values() for r in rows]
    assert any("OwnerUserId" not in r for r in everything)  # optional attributes go missing
    assert any("AcceptedAnswerId" in r for r in everything)
    assert all(counts[rule] >= 1 for rule in ("no_answer", "answer_score", "answer_length",
                                              "first_person", "other_answers",
                                              "self_contained_title"))
    assert counts["clean"] + sum(counts[r] for r in ("no_answer", "answer_score",
                                 "answer_length", "first_person", "other_answers",
                                 "self_contained_title")) == counts["questions"]


def test_stackexchange_dump_is_reproducible(tmp_path: Path) -> None:
    write_stackexchange_dump(tmp_path / "a", sites=2, questions_per_site=20, seed=3)
    write_stackexchange_dump(tmp_path / "b", sites=2, questions_per_site=20, seed=3)
    write_stackexchange_dump(tmp_path / "c", sites=2, questions_per_site=20, seed=4)
    posts = "stackoverflow.com/Posts.xml"
    assert (tmp_path / "a" / posts).read_bytes() == (tmp_path / "b" / posts).read_bytes()
    assert (tmp_path / "a" / posts).read_bytes() != (tmp_path / "c" / posts).read_bytes()


def test_wikihow_csv(tmp_path: Path) -> None:
    path = tmp_path / "wikihow.csv"
    assert write_wikihow_csv(path, 200, seed=0) == 200
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 200 and set(rows[0]) == {"title", "text", "category"}
    assert {r["category"] for r in rows} <= set(WIKIHOW_CATEGORIES)
    assert len({r["category"] for r in rows}) > 10
    assert len({r["title"] for r in rows}) == 200
    texts = [r["text"] for r in rows]
    assert any(t.startswith("This article") for t in texts)
    assert any(not t.startswith("This article") for t in texts)
    for marker in ("![", "<img ", "](https://", '<a href="'):
        assert any(marker in t for t in texts), marker
    write_wikihow_csv(tmp_path / "again.csv", 200, seed=0)
    assert (tmp_path / "again.csv").read_bytes() == path.read_bytes()


def test_wikihow_more_categories_than_wikihow_has(tmp_path: Path) -> None:
    write_wikihow_csv(tmp_path / "w.csv", 300, seed=1, categories=25)
    with (tmp_path / "w.csv").open(newline="", encoding="utf-8") as fh:
        categories = {r["category"] for r in csv.DictReader(fh)}
    assert "Category 25" in categories or "Category 24" in categories
